"""The whole-body hand stage scored on COCO-WholeBody annotations: the format sample in
``../shared/data/coco_style_samples/coco_wholebody`` (:func:`evaluate_wholebody_sample`) or a
synthetic whole-person test split (:func:`evaluate_synthetic_wholebody`).

The annotation file's hand keypoints are removed, and with ``boxes="body"`` its hand boxes and
hand validity flags too, so that the stage has only the body keypoints to go on
(:mod:`handpose.wholebody.hand_boxes`: boxes from the forearm or the wrist); with
``boxes="annotated"`` the labelled hand boxes stay and are where the stage looks (the hand
network's share of the error alone; hands not labelled still get boxes from the body).
:func:`handpose.wholebody.run.run_wholebody` runs on that file and the images beside it, and its
hands are compared with the labelled ones (the hands :mod:`handpose.data.readers.coco_wholebody`
reads: valid, with labelled keypoints):

- ``mean_keypoint_error_px`` / ``median_keypoint_error_px``: over the labelled joints of the
  labelled hands the stage estimated (``found_hands`` of ``labelled_hands``; a labelled hand without
  an estimate is a miss, counted there, not in the mean), original image pixels;
- ``box_recall``: the share of labelled hands whose estimated hand box (``*hand_box``, around the
  predicted keypoints), for the same person and side, overlaps the labelled hand box with IoU >=
  0.5 (on the format sample, the labelled keypoints themselves reach 0.9: one labelled box lies
  off its own keypoints);
  ``input_box_recall`` the same for the boxes the stage looked in, before the network: taken from
  the body (enlarged boxes, so a perfect one reaches IoU 1 / 1.25^2 = 0.64; a wrist-only one at
  most 0.25) or the annotated ones (1 by construction), and ``input_box_coverage`` the mean share
  of a labelled hand box's area inside its input box (what matters to the network: the
  Predictor's crop is 1.5 times larger still);
- ``hand_ap``: COCO-WholeBody's hand keypoint AP: pycocotools' OKS keypoint evaluation on one
  ground truth per person and side (hands without labelled keypoints are ignored, and estimates
  that match them neither count nor hurt, as in COCO) with :data:`HAND_SIGMAS` and, as the
  scale, the *person's* ``area``, which COCO-WholeBody's evaluation uses for every part (xtcocotools
  with ``use_area=True``); each estimated hand scored by its mean keypoint score. AP averages
  OKS thresholds 0.50:0.95; AP50, AP75 and AR (recall averaged alike) beside it;
- ``hand_box_side_px``: median, smallest and largest longer side of the labelled hand boxes.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import tempfile
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from handpose.data.readers import read_dataset
from handpose.data.readers.common import xywh_box
from handpose.image_io import write_bytes_atomic
from handpose.inference.tracking import HandFinder, box_iou
from handpose.metrics.keypoint_errors import count_missing, keypoint_errors, mean_error, scored
from handpose.skeleton import JOINT_NAMES, NUM_JOINTS
from handpose.synth.cache import prepare_synth_set
from handpose.synth.writers import wholebody_annotation_path
from handpose.wholebody.hand_boxes import SIDES, Detector, hand_boxes
from handpose.wholebody.run import run_wholebody

#: COCO-WholeBody's 21 hand keypoint sigmas (the same for both hands), canonical joint order:
#: xtcocotools' ``sigmas_lefthand`` / ``sigmas_righthand`` (its COCO-WholeBody evaluation), which
#: MMPose's coco_wholebody dataset description repeats; checked against both.
HAND_SIGMAS: tuple[float, ...] = (
    0.029, 0.022, 0.035, 0.037, 0.047, 0.026, 0.025, 0.024, 0.035, 0.018, 0.024,
    0.022, 0.026, 0.017, 0.021, 0.021, 0.032, 0.02, 0.019, 0.022, 0.031,
)  # fmt: skip

#: The fields of a person record that tell the stage where the hands are: removed before the run
#: (the boxes and validity flags kept where the annotated boxes are given).
HAND_FIELDS: tuple[str, ...] = tuple(f"{side}hand_{key}" for side in SIDES for key in ("kpts", "box", "valid"))
BOX_FIELDS: tuple[str, ...] = tuple(f"{side}hand_{key}" for side in SIDES for key in ("box", "valid"))

#: Where the stage looks for the hands: boxes from the body keypoints, or the annotated hand boxes.
BoxSource = Literal["body", "annotated"]
BOX_SOURCES: tuple[BoxSource, ...] = get_args(BoxSource)

#: A hand box counts as found at this IoU with the labelled one.
BOX_IOU = 0.5


def evaluate_wholebody_sample(
    predictor: HandFinder,
    sample_dir: str | Path,
    out_dir: str | Path | None = None,
    boxes: BoxSource = "body",
    detect: Detector | None = None,
) -> dict[str, Any]:
    """Run the stage on a COCO-WholeBody annotation file with its hands removed and score it
    (module docstring). ``sample_dir``: the folder holding the file (its only ``.json``) and the
    images, or the file itself. ``out_dir`` keeps the stripped input (``input/``) and the stage's
    output; by default both go to a temporary folder. ``boxes``: "body" (the hands found from the
    body keypoints) or "annotated" (the labelled hand boxes given); ``detect``: a hand detector
    that moves the boxes from the body onto the hands it finds inside them
    (:mod:`handpose.wholebody.run`). Returns a JSON-ready report."""
    if boxes not in BOX_SOURCES:
        raise ValueError(f"boxes must be one of {', '.join(BOX_SOURCES)}, got {boxes!r}")
    json_path = _annotation_file(Path(sample_dir))
    labelled = read_dataset("coco_wholebody", json_path).samples
    if not labelled:
        raise ValueError(f"{json_path}: no labelled hands to score against")
    original = json.loads(json_path.read_text())
    stripped = strip_hands(original, keep_boxes=boxes == "annotated")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(out_dir) if out_dir is not None else Path(scratch)
        stripped_path = folder / "input" / json_path.name
        write_bytes_atomic(stripped_path, json.dumps(stripped).encode("utf-8"))
        summary = run_wholebody(predictor, stripped_path, json_path.parent, folder, detect=detect, progress=False)
        output = json.loads(Path(summary["output"]).read_text())

    estimated = {
        record["id"]: record for record in output["annotations"] if isinstance(record, dict) and "id" in record
    }
    input_boxes = {
        (record["id"], box.side): box.box for record in stripped["annotations"] for box in hand_boxes(record)
    }
    predicted = np.full((len(labelled), NUM_JOINTS, 2), np.nan)
    box_hits = input_hits = 0
    coverage = []
    for i, sample in enumerate(labelled):
        key = (sample.extras["annotation_id"], sample.hand_side)
        record = estimated.get(key[0], {})
        if record.get(f"{sample.hand_side}hand_valid"):
            triplets = np.asarray(record[f"{sample.hand_side}hand_kpts"], dtype=np.float64)
            predicted[i] = triplets.reshape(NUM_JOINTS, 3)[:, :2]
            box = xywh_box(record[f"{sample.hand_side}hand_box"])
            box_hits += box is not None and box_iou(box, sample.box) >= BOX_IOU
        input_box = np.asarray(input_boxes.get(key, np.zeros(4)))
        input_hits += box_iou(input_box, sample.box) >= BOX_IOU
        coverage.append(_inside(sample.box, input_box))
    errors = keypoint_errors(
        predicted, np.stack([s.keypoints_2d for s in labelled]), np.stack([s.labelled for s in labelled])
    )
    found = np.isfinite(predicted).all(axis=(1, 2))
    count = len(labelled)
    sides = np.array([np.max(s.box[2:] - s.box[:2]) for s in labelled])
    return {
        "annotation_file": str(json_path),
        "boxes": boxes,
        "detector": detect is not None,
        "images": summary["images"],
        "people": summary["people"],
        "missing_images": summary["missing_images"],
        "bad_records": summary["bad_records"],
        "hands_estimated": summary["hands"],
        "hands_by_finder": summary["hands_by_finder"],
        "labelled_hands": len(labelled),
        "found_hands": int(found.sum()),
        "missed_joints": count_missing(errors),
        "mean_keypoint_error_px": _rounded(mean_error(errors)),
        "median_keypoint_error_px": _rounded(
            float(np.median(errors[scored(errors)])) if scored(errors).any() else None
        ),
        "box_recall": round(box_hits / count, 4),
        "input_box_recall": round(input_hits / count, 4),
        "input_box_coverage": round(float(np.mean(coverage)), 4) if coverage else None,
        "box_iou_threshold": BOX_IOU,
        "hand_box_side_px": {
            key: round(float(f(sides)), 1) for key, f in (("median", np.median), ("min", np.min), ("max", np.max))
        },
        "hand_ap": hand_keypoint_ap(original, output["annotations"]),
    }


def evaluate_synthetic_wholebody(
    predictor: HandFinder,
    count: int,
    seed: int,
    cache_dir: str | Path,
    size: int = 256,
    boxes: BoxSource = "body",
    workers: int = 1,
    out_dir: str | Path | None = None,
    detect: Detector | None = None,
) -> dict[str, Any]:
    """:func:`evaluate_wholebody_sample` on a synthetic whole-person split: ``count`` scenes of
    ``seed`` at ``size`` pixels (:mod:`handpose.synth.whole_person`), generated into ``cache_dir``
    once (:func:`handpose.synth.cache.prepare_synth_set`, ``workers`` processes) and reused; the
    people file beside its hands is scored. The report also names the split."""
    hands = prepare_synth_set(count, seed, size, cache_dir, workers, scene_kind="whole_person")
    report = evaluate_wholebody_sample(predictor, wholebody_annotation_path(hands), out_dir, boxes, detect)
    return {"synthetic": {"count": count, "seed": seed, "size": size}, **report}


def strip_hands(data: dict[str, Any], keep_boxes: bool = False) -> dict[str, Any]:
    """A copy of a COCO-WholeBody annotation file without the hands' keypoints, boxes and validity
    flags (:data:`HAND_FIELDS`), or with ``keep_boxes`` without the keypoints only; everything
    else, body keypoints included, is kept."""
    removed = [field for field in HAND_FIELDS if not (keep_boxes and field in BOX_FIELDS)]
    stripped = copy.deepcopy(data)
    for record in stripped["annotations"]:
        for field in removed:
            record.pop(field, None)
    return stripped


def hand_keypoint_ap(ground_truth: dict[str, Any], estimated: list[dict[str, Any]]) -> dict[str, Any]:
    """COCO-WholeBody hand keypoint AP of the estimated person records against the labelled ones
    (module docstring): AP, AP50, AP75 and AR; AP and AR are 0 when nothing was estimated and None
    when no hand is labelled."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    truths = []
    for person in ground_truth["annotations"]:
        for side in SIDES:
            keypoints = np.asarray(person.get(f"{side}hand_kpts") or [0.0] * (3 * NUM_JOINTS), dtype=np.float64)
            labelled = int(np.count_nonzero(keypoints[2::3] > 0)) if person.get(f"{side}hand_valid") else 0
            truths.append({
                "id": len(truths) + 1, "image_id": person["image_id"], "category_id": 1,
                "keypoints": keypoints.tolist() if labelled else [0.0] * (3 * NUM_JOINTS), "num_keypoints": labelled,
                "area": float(person["area"]), "bbox": person["bbox"], "iscrowd": int(person.get("iscrowd", 0)),
            })  # fmt: skip
    detections = [
        {
            "image_id": record["image_id"],
            "category_id": 1,
            "keypoints": record[f"{side}hand_kpts"],
            "score": float(np.mean(record[f"{side}hand_kpts"][2::3])),
        }
        for record in estimated
        for side in SIDES
        if isinstance(record, dict) and record.get(f"{side}hand_valid")
    ]
    report: dict[str, Any] = {
        "sigmas": "COCO-WholeBody hands (xtcocotools sigmas_lefthand / sigmas_righthand)",
        "scale": "person area",
        "hands": len(detections),
    }
    if not any(truth["num_keypoints"] for truth in truths):
        return {**report, "AP": None, "AP50": None, "AP75": None, "AR": None}
    if not detections:
        return {**report, "AP": 0.0, "AP50": 0.0, "AP75": 0.0, "AR": 0.0}
    categories = [{"id": 1, "name": "hand", "keypoints": list(JOINT_NAMES), "skeleton": []}]
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools reports every step on stdout
        coco = COCO()
        coco.dataset = {"images": ground_truth["images"], "annotations": truths, "categories": categories}
        coco.createIndex()
        evaluation = COCOeval(coco, coco.loadRes(detections), "keypoints")
        evaluation.params.kpt_oks_sigmas = np.asarray(HAND_SIGMAS)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = [round(float(value), 4) if value >= 0 else None for value in evaluation.stats]  # -1: nothing to score
    return {**report, "AP": stats[0], "AP50": stats[1], "AP75": stats[2], "AR": stats[5]}


def _annotation_file(sample: Path) -> Path:
    """The annotation file of a sample folder (its only .json), or ``sample`` where it is the file."""
    if sample.is_file():
        return sample
    files = sorted(sample.glob("*.json"))
    if len(files) != 1:
        raise ValueError(f"{sample}: expected one COCO-WholeBody .json file, found {len(files)}")
    return files[0]


def _inside(box: np.ndarray, container: np.ndarray) -> float:
    """The share of x0, y0, x1, y1 ``box``'s area inside ``container`` (0 for a box of no area)."""
    area = float(np.prod(box[2:] - box[:2]))
    overlap = np.clip(np.minimum(box[2:], container[2:]) - np.maximum(box[:2], container[:2]), 0.0, None)
    return float(np.prod(overlap)) / area if area > 0 else 0.0


def _rounded(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 3)
