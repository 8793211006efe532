"""``handpose wholebody``: hands for the people a body pose estimator found, written into its file.

**Input.** PEOPLE.json is COCO-style: person annotations (``{"images": [...], "annotations":
[...]}``, each annotation with ``image_id``) or results (a list of records with ``image_id``, and
``file_name`` where the tool writes one), with body ``keypoints`` COCO-17 or COCO-WholeBody's 133
(:mod:`handpose.wholebody.hand_boxes`). An image is found in the folder by its ``file_name``
(tried as given, then by its base name); a result without ``file_name`` by its ``image_id``,
as the image whose file name stem is that id, leading zeros allowed (COCO's 000000000785.jpg
for 785). Given a single image instead of a folder, only the people of that image (matched by
base name) get hands; the others are written back untouched.

**What happens per image.** Each person's hand boxes come from the body (or the hand keypoints
or boxes the input has; a hand detector, where given, refines them), all hands of all people of
the image go through the Predictor in one call, with each box's side from the body's arm (left
ones mirrored for a right-hand network and mapped back), and the keypoints come back in the
image's pixels. The crops are cut from the full-resolution image (from an area-averaged smaller
copy only where a crop would shrink the image more than twice, against aliasing), so small hands
keep the detail Hand4Whole found the body network's resolution loses.

**Output.** DIR/<PEOPLE.json's name>: the input with, in every person record of a processed
image, for each side (``lefthand_*``, ``righthand_*``):

- ``*_kpts``: 21 x [x, y, score] flattened, COCO-WholeBody's layout, canonical joint order;
- ``*_box``: [x, y, w, h], the box around the predicted keypoints grown by
  :data:`HAND_BOX_MARGIN` of its longer side each way, as COCO-WholeBody's hand boxes are drawn;
- ``*_valid``: whether the hand was estimated (false: no box to look in, e.g. no arm keypoints,
  or a box wholly outside the image; kpts and box are then zeros, as COCO-WholeBody writes them);
- ``*_orientation``: :func:`handpose.wholebody.orientation.hand_orientation`'s record, or null;
- ``*_finder``: where the box came from ("hand_box", "hand_kpts", "forearm", "wrist",
  "detector"), or null.

Where ``keypoints`` holds 133 keypoints, its hand part is replaced by the estimated hands as well,
so that a tool reading either finds the same hands. The file is written atomically. With
``save_overlays``: DIR/overlays/<file_name>.jpg, the body's skeleton (left limbs in the left-hand
colour, right in the right's) under the hands' boxes and skeletons.

A missing or unreadable image, and a malformed record, are reported in one line each and counted;
their records are left as they were, and the rest go on.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from handpose.image_io import write_bytes_atomic
from handpose.inference.sources import load_image
from handpose.inference.tracking import HandFinder
from handpose.skeleton import NUM_JOINTS
from handpose.structures import HandPrediction, HandSide, SampleError, keypoint_box
from handpose.viz.prediction_overlay import SIDE_COLORS, draw_predictions, write_overlay_image
from handpose.wholebody.hand_boxes import (
    BODY_JOINTS,
    MIN_SCORE,
    SIDES,
    WHOLEBODY_HANDS,
    WHOLEBODY_JOINTS,
    Detector,
    HandBox,
    body_keypoints,
    hand_boxes,
    refine_with_detections,
)
from handpose.wholebody.orientation import hand_orientation

#: COCO-17's skeleton (0-based joint pairs), as its ``categories[0]["skeleton"]`` lists it.
BODY_BONES: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
    (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip

#: COCO-WholeBody's hand boxes hold the hand's flesh, not only its joints: on its format sample the
#: box around the labelled keypoints, grown by this fraction of its longer side each way, overlaps
#: the labelled box best (mean IoU 0.72 over its 10 hands, against 0.58 ungrown; 0.05: 0.66, 0.15: 0.71).
HAND_BOX_MARGIN = 0.1

_NO_HAND: dict[str, Any] = {"kpts": [0.0] * (3 * NUM_JOINTS), "box": [0.0, 0.0, 0.0, 0.0], "valid": False,
                            "orientation": None, "finder": None}  # fmt: skip


def run_wholebody(
    predictor: HandFinder,
    people_json: str | Path,
    images_dir: str | Path,
    out_dir: str | Path,
    save_overlays: bool = False,
    *,
    detect: Detector | None = None,
    min_score: float = MIN_SCORE,
    progress: bool = True,
) -> dict[str, Any]:
    """Estimate the hands of every person in ``people_json`` (module docstring) and write the file
    with them into ``out_dir``; ``images_dir`` is the images' folder, or one image.

    ``detect``: an optional hand detector, ``detect(image) -> [(x0, y0, x1, y1), side, score]``,
    run once per image. ``min_score``: body keypoint scores (or flags) above it count.
    Returns a summary: output (the file written), images, people, hands, hands_by_finder,
    missing_images, bad_records, overlays. Raises ValueError where the people file itself cannot
    be used or the output would overwrite it.
    """
    people_path, out_path = Path(people_json), Path(out_dir) / Path(people_json).name
    if out_path.resolve() == people_path.resolve():
        raise ValueError(f"{out_path}: the output would overwrite the input; choose another --out")
    data = _load_json(people_path)
    records, names = _people_of(data, people_path)
    images_path = Path(images_dir)
    only = images_path.name if images_path.is_file() else None
    folder = images_path.parent if only is not None else images_path

    summary: Counter = Counter()
    by_image = _group_by_image(records, names, folder, only, people_path, summary)
    hands_by_finder: Counter = Counter()
    for name, indices in tqdm(by_image.items(), unit="image", disable=not progress):
        try:
            image = load_image(_image_path(folder, name))
        except SampleError as error:
            summary["missing_images"] += 1
            _report(f"{error} ({len(indices)} people left without hands)")
            continue
        people: list[int] = []
        boxes: list[tuple[int, HandBox]] = []
        for index in indices:
            try:
                boxes += [(index, box) for box in hand_boxes(records[index], min_score)]
                people.append(index)
            except ValueError as error:
                summary["bad_records"] += 1
                _report(f"{people_path} record {index} (image {name}): {error}")
        if detect is not None and any(box.finder in ("forearm", "wrist") for _, box in boxes):
            refined = refine_with_detections([box for _, box in boxes], detect(image))
            boxes = [(index, box) for (index, _), box in zip(boxes, refined)]
        boxes = [(index, box) for index, box in boxes if _overlaps(box.box, image.shape)]
        found = predictor(image, boxes=[b.box for _, b in boxes], sides=[b.side for _, b in boxes]) if boxes else []
        hands = {(index, box.side): (box, prediction) for (index, box), prediction in zip(boxes, found)}
        for index in people:
            for side in SIDES:
                _write_hand(records[index], side, hands.get((index, side)))
        hands_by_finder.update(box.finder for box, _ in hands.values())
        summary["images"] += 1
        summary["people"] += len(people)
        if save_overlays:
            canvas = draw_bodies(image, [body_keypoints(records[index]) for index in people], min_score)
            write_overlay_image(
                (Path(out_dir) / "overlays" / name).with_suffix(".jpg"), draw_predictions(canvas, found)
            )
            summary["overlays"] += 1

    write_bytes_atomic(out_path, json.dumps(data).encode("utf-8"))
    return {
        "output": str(out_path),
        **{key: summary[key] for key in ("images", "people", "missing_images", "bad_records", "overlays")},
        "hands": sum(hands_by_finder.values()),
        "hands_by_finder": dict(hands_by_finder),
    }


def draw_bodies(image: np.ndarray, bodies: Sequence[np.ndarray], min_score: float = MIN_SCORE) -> np.ndarray:
    """An RGB copy of ``image`` with each person's COCO-17 skeleton (bones between counted
    keypoints): left limbs in the left hand's overlay colour, right limbs in the right's, the rest
    light grey, so each arm matches the hand it leads to. Lines grow with the image, 1 pixel per
    300 (2 at least), as the hands' do."""
    canvas = np.ascontiguousarray(image, dtype=np.uint8).copy()
    width = max(2, round(min(canvas.shape[:2]) / 300))
    for body in bodies:
        counted = (body[:BODY_JOINTS, 2] > min_score) & np.isfinite(body[:BODY_JOINTS, :2]).all(axis=1)
        for a, b in BODY_BONES:
            if counted[a] and counted[b]:
                start, end = (tuple(round(float(v)) for v in body[j, :2]) for j in (a, b))
                cv2.line(canvas, start, end, SIDE_COLORS[_limb_side(a, b)], width, cv2.LINE_AA)
    return canvas


def _limb_side(a: int, b: int) -> HandSide | None:
    """The body side of a COCO-17 bone: left joints have odd indices, right ones even (not 0, the nose)."""
    if a % 2 and b % 2:
        return "left"
    if a and b and not (a % 2 or b % 2):
        return "right"
    return None


def _group_by_image(
    records: list[Any],
    names: dict[Any, str] | None,
    folder: Path,
    only: str | None,
    people_path: Path,
    summary: Counter,
) -> dict[str, list[int]]:
    """Image file name -> indices of its person records, in the file's order; bad records and
    results whose image_id names no file are reported and counted in ``summary``. With ``only``
    (one image's base name), the people of other images are left out, unreported."""
    files_by_id = _files_by_id(folder) if names is None and any(_lacks_file_name(r) for r in records) else {}
    by_image: dict[str, list[int]] = {}
    unfound_ids: Counter = Counter()
    for index, record in enumerate(records):
        name = _image_name(record, names, files_by_id)
        if isinstance(name, _BadRecord):
            summary["bad_records"] += 1
            _report(f"{people_path} record {index}: {name.reason}")
        elif isinstance(name, _UnfoundId):
            unfound_ids[name.image_id] += 1
        elif only is None or Path(name).name == only:
            by_image.setdefault(name, []).append(index)
    if only is None:
        for image_id, count in unfound_ids.items():
            summary["missing_images"] += 1
            _report(f"{folder}: no image file named by image_id {image_id!r} ({count} people left without hands)")
    return by_image


class _BadRecord:
    """Why a record cannot be placed in an image."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class _UnfoundId:
    """A result whose image_id names no file of the folder."""

    def __init__(self, image_id: Any) -> None:
        self.image_id = image_id


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: people file is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable JSON file ({type(error).__name__}: {error})") from None


def _people_of(data: Any, path: Path) -> tuple[list[Any], dict[Any, str] | None]:
    """The person records, and image id -> file name where the file lists its images (None for a
    list of results)."""
    if isinstance(data, list):
        return data, None
    if isinstance(data, dict) and isinstance(data.get("annotations"), list) and isinstance(data.get("images"), list):
        names = {
            image["id"]: str(image["file_name"])
            for image in data["images"]
            if isinstance(image, dict) and "id" in image and "file_name" in image
        }
        return data["annotations"], names
    raise ValueError(
        f"{path}: expected COCO-style people: a dict with 'images' and 'annotations', or a list of results with image_id"
    )


def _image_name(
    record: Any, names: dict[Any, str] | None, files_by_id: dict[str, str]
) -> str | _BadRecord | _UnfoundId:
    """The file name (relative to the images' folder) of the record's image."""
    if not isinstance(record, dict):
        return _BadRecord(f"not a person record (a {type(record).__name__})")
    if names is not None:
        if record.get("image_id") not in names:
            return _BadRecord(f"image_id {record.get('image_id')!r} is not among the file's images")
        return names[record["image_id"]]
    if not _lacks_file_name(record):
        return record["file_name"]
    if "image_id" not in record:
        return _BadRecord("no image_id nor file_name")
    return files_by_id.get(str(record["image_id"]).lstrip("0")) or _UnfoundId(record["image_id"])


def _lacks_file_name(record: Any) -> bool:
    return not (isinstance(record, dict) and isinstance(record.get("file_name"), str))


def _files_by_id(folder: Path) -> dict[str, str]:
    """Image id (as text, leading zeros stripped) -> file name, for the files directly in ``folder``."""
    files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    return {p.stem.lstrip("0"): p.name for p in files}


def _image_path(folder: Path, name: str) -> Path:
    """``folder / name``, or the file of that base name directly in ``folder`` where only it exists."""
    path = folder / name
    flat = folder / Path(name).name
    return flat if not path.exists() and flat.exists() else path


def _overlaps(box: Sequence[float], shape: tuple[int, ...]) -> bool:
    """Whether an x0, y0, x1, y1 box covers any of the image (pixel edges at -0.5 and size - 0.5)."""
    x0, y0, x1, y1 = box
    height, width = shape[:2]
    return x1 > -0.5 and y1 > -0.5 and x0 < width - 0.5 and y0 < height - 0.5


def _write_hand(record: dict, side: HandSide, hand: tuple[HandBox, HandPrediction] | None) -> None:
    """Write one hand's fields (module docstring) into a person record."""
    fields = dict(_NO_HAND)
    if hand is not None:
        box, prediction = hand
        written = prediction.to_json()
        x0, y0, x1, y1 = keypoint_box(prediction.keypoints, margin=HAND_BOX_MARGIN)
        fields = {
            "kpts": [value for triplet in written["keypoints"] for value in triplet],
            "box": [round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)],
            "valid": True,
            "orientation": hand_orientation(prediction),
            "finder": box.finder,
        }
        _replace_wholebody_hand(record, side, written["keypoints"])
    for key, value in fields.items():
        record[f"{side}hand_{key}"] = value


def _replace_wholebody_hand(record: dict, side: HandSide, triplets: list[list[float]]) -> None:
    """Put a hand into 133 ``keypoints``, keeping their flat or nested form."""
    keypoints = record.get("keypoints")
    if not isinstance(keypoints, list):
        return
    part = WHOLEBODY_HANDS[side]
    if len(keypoints) == 3 * WHOLEBODY_JOINTS:
        keypoints[3 * part.start : 3 * part.stop] = [value for triplet in triplets for value in triplet]
    elif len(keypoints) == WHOLEBODY_JOINTS:
        keypoints[part] = triplets


def _report(line: str) -> None:
    tqdm.write(f"error: {line}", file=sys.stderr)
