"""CMU Panoptic HandDB (Simon et al. 2017) as distributed, canonical joint order.

Two layouts, chosen by ``split`` under the root (none given: all present):

- ``train`` / ``test``: ``hand_labels/manual_<split>/``, one ``<name>.json`` per hand beside its
  ``<name>.jpg``, with ``hand_pts`` (21 x [x, y, flag]) and ``is_left`` (required). The flag is
  HandDB's visibility: 1 visible (2), 0 labelled but occluded (1); a point at exactly (0, 0) is
  taken as not labelled.
- ``panopticdb``: ``hand143_panopticdb/hands_v143_14817.json``, ``{"root": [...]}`` whose entries
  give ``img_paths`` (relative to that folder), ``img_width``, ``img_height`` and ``joint_self``
  (21 x [x, y, flag]); flag 1 is a label (visible, 2), flag 0 no label. These entries say nothing
  of the hand's side (``hand_side`` None).

PATH may also be one of those folders itself. Extra fields (``head_size``, ...) go to ``extras``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from handpose.data.readers.common import SampleCollector, build_sample, keypoint_triplets, load_json, require_dir
from handpose.structures import NOT_LABELLED, OCCLUDED, VISIBLE, SampleError

SPLITS = ("train", "test", "panopticdb")
PANOPTICDB_FOLDER, PANOPTICDB_FILE = "hand143_panopticdb", "hands_v143_14817.json"
_MANUAL_FIELDS = frozenset({"hand_pts", "is_left"})
_PANOPTICDB_FIELDS = frozenset({"img_paths", "img_width", "img_height", "joint_self"})


def read(path: Path, split: str | None, collector: SampleCollector) -> None:
    """CMU Panoptic HandDB (hand_labels/manual_{train,test}/*.json, hand143_panopticdb); splits train, test, panopticdb."""
    for kind, location in _locations(path, split):
        if kind == "panopticdb":
            _read_panopticdb(location, collector)
        else:
            _read_manual(location, collector)


def _locations(path: Path, split: str | None) -> list[tuple[str, Path]]:
    """(kind, folder) of each part to read."""
    if (path / PANOPTICDB_FILE).is_file():
        return [("panopticdb", path)]
    if path.name.startswith("manual_"):
        return [("manual", require_dir(path, "Panoptic manual label folder"))]
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    parts = {
        "train": ("manual", path / "hand_labels" / "manual_train"),
        "test": ("manual", path / "hand_labels" / "manual_test"),
        "panopticdb": ("panopticdb", path / PANOPTICDB_FOLDER),
    }
    if split is not None:
        kind, folder = parts[split]
        return [(kind, require_dir(folder, f"Panoptic {split} folder"))]
    present = [part for part in parts.values() if part[1].is_dir()]
    if not present:
        raise SampleError(f"{path}: folder hand_labels/manual_train, hand_labels/manual_test or {PANOPTICDB_FOLDER} is missing")
    return present


def _read_manual(folder: Path, collector: SampleCollector) -> None:
    for json_path in sorted(folder.glob("*.json")):
        sample_id = f"{folder.name}/{json_path.stem}"
        with collector.guard(sample_id, json_path):
            label = load_json(json_path)
            if not isinstance(label, dict):
                raise SampleError("label is not a JSON object with hand_pts and is_left")
            triplets = keypoint_triplets(label.get("hand_pts"), what="hand_pts")
            unlabelled = np.all(triplets[:, :2] == 0, axis=1)
            if "is_left" not in label:
                raise SampleError("is_left (the left/right flag) is missing")
            if label["is_left"] not in (0, 1):
                raise SampleError(f"is_left is {label['is_left']!r}, expected 0 or 1")
            collector.add(
                build_sample(
                    source=collector.source,
                    sample_id=sample_id,
                    image=json_path.with_suffix(".jpg"),
                    keypoints_2d=triplets[:, :2],
                    visibility=np.where(unlabelled, NOT_LABELLED, np.where(triplets[:, 2] > 0, VISIBLE, OCCLUDED)),
                    hand_side="left" if label["is_left"] else "right",
                    extras={**{k: v for k, v in label.items() if k not in _MANUAL_FIELDS}, "group": sample_id},
                )
            )


def _read_panopticdb(folder: Path, collector: SampleCollector) -> None:
    json_path = folder / PANOPTICDB_FILE
    data = load_json(json_path)
    entries = data.get("root") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise SampleError(f"{json_path}: no 'root' list of hands")
    for index, entry in enumerate(entries):
        image_name = entry.get("img_paths") if isinstance(entry, dict) else None
        sample_id = f"panopticdb/{image_name or index}"
        with collector.guard(sample_id, json_path):
            if not image_name:
                raise SampleError("entry has no img_paths")
            triplets = keypoint_triplets(entry.get("joint_self"), what="joint_self")
            size = (entry.get("img_width"), entry.get("img_height"))
            collector.add(
                build_sample(
                    source=collector.source,
                    sample_id=sample_id,
                    image=folder / image_name,
                    keypoints_2d=triplets[:, :2],
                    visibility=np.where(triplets[:, 2] == 1, VISIBLE, NOT_LABELLED),
                    hand_side=None,
                    image_size=tuple(int(v) for v in size) if all(isinstance(v, (int, float)) and v > 0 for v in size) else None,
                    extras={**{k: v for k, v in entry.items() if k not in _PANOPTICDB_FIELDS}, "group": sample_id},
                )
            )
