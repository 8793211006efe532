"""COCO-WholeBody's hands: two per person annotation, as distributed (coco_wholebody_*_v1.0.json).

Each person annotation carries ``lefthand_kpts`` / ``righthand_kpts`` (21 x [x, y, v], canonical
order), ``lefthand_valid`` / ``righthand_valid`` and ``lefthand_box`` / ``righthand_box`` ([x, y,
w, h]). A hand whose valid flag is false, or that is flagged valid without a single labelled
keypoint, is counted as excluded, not read. Flags follow COCO (0 not labelled, 1 occluded, 2
visible); the fractional values found in some hands count as labelled, not known visible.

PATH is the JSON file (images resolved against ``image_root``, default its folder) or the COCO
root holding ``annotations/coco_wholebody_<split>_v1.0.json`` and ``<split>2017/`` images.
"""

from __future__ import annotations

from pathlib import Path

from handpose.data.readers.coco import annotation_list, image_size, images_by_id
from handpose.data.readers.common import (
    SampleCollector,
    build_sample,
    coco_flags,
    keypoint_triplets,
    load_json,
    xywh_box,
)
from handpose.structures import SampleError

_SIDES = ("left", "right")


def read(path: Path, split: str | None, collector: SampleCollector, *, image_root: str | Path | None = None) -> None:
    """COCO-WholeBody hands (lefthand_kpts / righthand_kpts); PATH the JSON, or the COCO root with splits train, val."""
    if path.is_dir():
        if split is None:
            raise ValueError(f"{path} is a folder: give --split (train or val) or the annotation file itself")
        json_path = path / "annotations" / f"coco_wholebody_{split}_v1.0.json"
        default_root = path / f"{split}2017"
    else:
        json_path, default_root = path, path.parent
    data = load_json(json_path)
    images = images_by_id(data, json_path)
    root = Path(image_root) if image_root is not None else default_root
    for index, person in enumerate(annotation_list(data, json_path)):
        image = images.get(person.get("image_id"))
        for side in _SIDES:
            sample_id = f"{image['file_name'] if image else person.get('image_id')}#{person.get('id', index)}/{side}"
            with collector.guard(sample_id, json_path):
                if image is None:
                    raise SampleError(f"image_id {person.get('image_id')!r} is not among the file's images")
                valid = person.get(f"{side}hand_valid")
                if valid is None:
                    raise SampleError(f"{side}hand_valid is missing")
                if not valid:
                    collector.exclude(f"{side} hand not annotated ({side}hand_valid false)")
                    continue
                triplets = keypoint_triplets(person.get(f"{side}hand_kpts"), what=f"{side}hand_kpts")
                visibility = coco_flags(triplets[:, 2])
                if not visibility.any():
                    collector.exclude(f"{side} hand flagged valid but without labelled keypoints")
                    continue
                collector.add(
                    build_sample(
                        source=collector.source,
                        sample_id=sample_id,
                        image=root / image["file_name"],
                        keypoints_2d=triplets[:, :2],
                        visibility=visibility,
                        hand_side=side,
                        image_size=image_size(image),
                        box=xywh_box(person.get(f"{side}hand_box")),
                        extras={"image_id": image["id"], "annotation_id": person.get("id"), "group": image["file_name"]},
                    )
                )
