"""Writing rendered scenes as datasets: RHD's native layout and the COCO-style hand format.

Writers split the work the way parallel generation needs it: :meth:`write_sample` (run in any
worker) writes one scene's image files atomically and returns a small annotation record;
:meth:`finish` (run once, in order) writes the annotation file from all records, atomically and
last, so that a reader never finds an annotation file pointing at missing or half-written images.

- ``rhd``: ``<out>/<split>/color|mask|depth/%05d.png`` and ``<out>/<split>/anno_<split>.pickle``
  mapping each index to ``xyz`` (42 x 3, metres), ``uv_vis`` (42 x 3: u, v, 1 if visible) and
  ``K``, both hands in RHD's joint order (left 0-20, right 21-41, each finger tip to palm); a hand
  absent from the scene is all zeros. Depth is packed as RHD does: the 16-bit value
  ``depth / 5 m * 65535`` with its top byte in red and its bottom byte in green. The usual split
  names map to RHD's own: train -> training, val/test/eval -> evaluation.
- ``coco``: ``<out>/images/<split>/%08d.jpg`` and ``<out>/<split>.json`` with one annotation per
  hand: flat ``keypoints`` [x, y, v] * 21 in the canonical order (v = 2 visible, 1 occluded or
  outside the image), ``bbox`` [x, y, w, h], ``joint_cam`` (21 x 3, mm), ``hand_type``; each image
  has ``cam_param`` {focal, princpt}. An image without hands (detection scenes) is an image entry
  that no annotation refers to. Annotation ids are ``index * hands_per_image + k`` for the k-th
  hand of scene ``index``, unique as long as no scene holds more than ``hands_per_image`` hands.
- whole-person scenes (coco only): the hands as above (what training reads), and beside them
  ``<out>/<split>_wholebody.json`` (:func:`wholebody_annotation_path`), the people in
  COCO-WholeBody's layout, what :mod:`handpose.data.readers.coco_wholebody` and the whole-body
  evaluation read: per person ``keypoints`` (COCO-17, flat x, y, flag), ``num_keypoints``,
  ``bbox``, ``area`` (pixels), and per side ``lefthand_kpts`` / ``righthand_kpts`` (21 x [x, y,
  flag] flattened, canonical order; flags 2 seen, 1 hidden, 0 outside the image),
  ``lefthand_box`` / ``righthand_box`` ([x, y, w, h]) and ``lefthand_valid`` / ``righthand_valid``
  (false, with zeros, for a hand not labelled), as COCO-WholeBody writes them. Person ids are
  ``index * MAX_PEOPLE + k``.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from handpose.image_io import write_bytes_atomic, write_rgb_atomic
from handpose.joint_orders import TWO_HAND_SIDES, from_canonical
from handpose.skeleton import BONES, NUM_JOINTS
from handpose.structures import OCCLUDED, VISIBLE
from handpose.synth.scene import MAX_PEOPLE, SynthScene
from handpose.synth.whole_person import COCO_BODY_KEYPOINTS, coco_flags

FORMATS = ("coco", "rhd")

#: RHD packs depth into 16 bits spanning 0 to 5 metres.
RHD_DEPTH_RANGE_MM = 5000.0
RHD_SPLIT_NAMES = {"train": "training", "val": "evaluation", "test": "evaluation", "eval": "evaluation"}

#: COCO keypoint names of the hand category, as in MMPose's hand datasets and the real set.
COCO_KEYPOINT_NAMES = ["wrist"] + [
    f"{finger}{k}" for finger in ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger") for k in range(1, 5)
]


def pack_rhd_depth(depth_mm: np.ndarray) -> np.ndarray:
    """(H, W) depth in mm to RHD's RGB packing: red the top byte, green the bottom byte, blue 0."""
    value = np.clip(np.rint(depth_mm / RHD_DEPTH_RANGE_MM * 65535.0), 0, 65535).astype(np.uint16)
    packed = np.zeros(depth_mm.shape + (3,), np.uint8)
    packed[..., 0] = value >> 8
    packed[..., 1] = value & 0xFF
    return packed


class RhdWriter:
    """RHD_published_v2's layout: color/, mask/, depth/ PNGs and anno_<split>.pickle."""

    def __init__(self, out_dir: str | Path, split: str) -> None:
        self.split = RHD_SPLIT_NAMES.get(split, split)
        self.folder = Path(out_dir) / self.split
        self.annotation_path = self.folder / f"anno_{self.split}.pickle"

    def write_sample(self, index: int, scene: SynthScene) -> dict[str, Any]:
        name = f"{index:05d}.png"
        write_rgb_atomic(self.folder / "color" / name, scene.image)
        write_rgb_atomic(self.folder / "mask" / name, scene.mask)
        write_rgb_atomic(self.folder / "depth" / name, pack_rhd_depth(scene.depth))
        xyz = np.zeros((2 * NUM_JOINTS, 3))
        uv_vis = np.zeros((2 * NUM_JOINTS, 3))
        for hand in scene.hands:
            rows = slice(TWO_HAND_SIDES.index(hand.side) * NUM_JOINTS, (TWO_HAND_SIDES.index(hand.side) + 1) * NUM_JOINTS)
            xyz[rows] = hand.keypoints_3d / 1000.0
            uv_vis[rows, :2] = hand.keypoints_2d
            uv_vis[rows, 2] = hand.visible
        # Plain lists travel between processes without changing how the pickle is laid out.
        return {
            "index": index,
            "xyz": from_canonical(xyz, "rhd").tolist(),
            "uv_vis": from_canonical(uv_vis, "rhd").tolist(),
            "K": scene.K.tolist(),
        }

    def finish(self, records: list[dict[str, Any]]) -> Path:
        annotations = {
            r["index"]: {key: np.array(r[key], dtype=np.float32) for key in ("xyz", "uv_vis", "K")} for r in records
        }
        write_bytes_atomic(self.annotation_path, pickle.dumps(annotations, protocol=4))
        return self.annotation_path


def _rounded(values: np.ndarray, decimals: int = 3) -> list:
    return np.round(np.asarray(values, dtype=float), decimals).tolist()


class CocoWriter:
    """COCO-style hand keypoints: JPEG images and one JSON file per split."""

    def __init__(self, out_dir: str | Path, split: str, hands_per_image: int = 2) -> None:
        self.root = Path(out_dir)
        self.split = split
        self.hands_per_image = hands_per_image
        self.annotation_path = self.root / f"{split}.json"

    def write_sample(self, index: int, scene: SynthScene) -> dict[str, Any]:
        file_name = f"images/{self.split}/{index:08d}.jpg"
        write_rgb_atomic(self.root / file_name, scene.image, jpeg_quality=95)
        height, width = scene.image.shape[:2]
        K = scene.K
        image = {
            "id": index,
            "file_name": file_name,
            "width": width,
            "height": height,
            "cam_param": {"focal": _rounded([K[0, 0], K[1, 1]], 4), "princpt": _rounded([K[0, 2], K[1, 2]], 4)},
        }
        annotations = []
        for k, hand in enumerate(scene.hands):
            flags = np.where(hand.visible, VISIBLE, OCCLUDED)
            x0, y0, x1, y1 = hand.box
            w, h = x1 - x0, y1 - y0
            annotations.append({
                "id": self.hands_per_image * index + k,
                "image_id": index,
                "category_id": 1,
                "iscrowd": 0,
                "bbox": _rounded([x0, y0, w, h], 2),
                "area": round(float(w * h), 2),
                "keypoints": [v for (x, y), f in zip(_rounded(hand.keypoints_2d), flags) for v in (x, y, int(f))],
                "num_keypoints": NUM_JOINTS,
                "joint_cam": _rounded(hand.keypoints_3d),
                "hand_type": hand.side,
                "gesture": hand.gesture,
            })
        return {"image": image, "annotations": annotations}

    def finish(self, records: list[dict[str, Any]]) -> Path:
        data = {
            "info": {"description": "handpose synthetic hands", "keypoint_order": "canonical"},
            "images": [r["image"] for r in records],
            "annotations": [a for r in records for a in r["annotations"]],
            "categories": [{
                "id": 1,
                "name": "hand",
                "supercategory": "hand",
                "keypoints": COCO_KEYPOINT_NAMES,
                "skeleton": [[p + 1, c + 1] for p, c in BONES],
            }],
        }
        write_bytes_atomic(self.annotation_path, json.dumps(data, separators=(",", ":")).encode())
        return self.annotation_path


def wholebody_annotation_path(hands_annotation: str | Path) -> Path:
    """The people file written beside a whole-person set's hand annotation file."""
    path = Path(hands_annotation)
    return path.with_name(f"{path.stem}_wholebody.json")


class WholeBodyWriter(CocoWriter):
    """Whole-person scenes: the hands as :class:`CocoWriter` writes them, and the people in
    COCO-WholeBody's layout beside them (module docstring)."""

    def __init__(self, out_dir: str | Path, split: str, hands_per_image: int) -> None:
        super().__init__(out_dir, split, hands_per_image)
        self.people_path = wholebody_annotation_path(self.annotation_path)

    def write_sample(self, index: int, scene: SynthScene) -> dict[str, Any]:
        record = super().write_sample(index, scene)
        shape = scene.image.shape
        people = []
        for k, person in enumerate(scene.people):
            x0, y0, x1, y1 = person.box
            labelled = person.flags > 0
            keypoints = np.where(labelled[:, None], person.keypoints_2d, 0.0)
            people.append({
                "id": MAX_PEOPLE * index + k,
                "image_id": index,
                "category_id": 1,
                "iscrowd": 0,
                "bbox": _rounded([x0, y0, x1 - x0, y1 - y0], 2),
                "area": person.area,
                "keypoints": [v for (x, y), f in zip(_rounded(keypoints), person.flags) for v in (x, y, int(f))],
                "num_keypoints": int(labelled.sum()),
            })
            for side in ("left", "right"):
                people[-1].update(_wholebody_hand(scene, person.hands.get(side), side, shape))
        record["people"] = people
        return record

    def finish(self, records: list[dict[str, Any]]) -> Path:
        """The people file, then the hand file: the latter, written last, marks a whole set."""
        data = {
            "info": {"description": "handpose synthetic whole-person scenes", "keypoint_order": "coco-17, canonical hands"},
            "images": [r["image"] for r in records],
            "annotations": [person for r in records for person in r["people"]],
            "categories": [
                {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO_BODY_KEYPOINTS)}
            ],
        }
        write_bytes_atomic(self.people_path, json.dumps(data, separators=(",", ":")).encode())
        return super().finish(records)


def _wholebody_hand(scene: SynthScene, index: int | None, side: str, shape: tuple[int, ...]) -> dict[str, Any]:
    """A person's ``<side>hand_*`` fields for the labelled hand ``index`` of ``scene``, or for no hand."""
    if index is None:
        return {f"{side}hand_kpts": [0.0] * (3 * NUM_JOINTS), f"{side}hand_box": [0.0] * 4, f"{side}hand_valid": False}
    hand = scene.hands[index]
    flags = coco_flags(hand.keypoints_2d, hand.visible, shape)
    keypoints = np.where(flags[:, None] > 0, hand.keypoints_2d, 0.0)
    x0, y0, x1, y1 = hand.box
    return {
        f"{side}hand_kpts": [v for (x, y), f in zip(_rounded(keypoints), flags) for v in (x, y, int(f))],
        f"{side}hand_box": _rounded([x0, y0, x1 - x0, y1 - y0], 2),
        f"{side}hand_valid": True,
    }


def make_writer(
    format: str, out_dir: str | Path, split: str, hands_per_image: int = 2, scene_kind: str = "hands"
) -> RhdWriter | CocoWriter:
    """The writer of ``format`` ("coco" or "rhd") for scenes of ``scene_kind`` with at most
    ``hands_per_image`` hands.

    RHD's layout has one slot per side, so it takes at most one left and one right hand, and no people.
    """
    if format == "coco":
        if scene_kind == "whole_person":
            return WholeBodyWriter(out_dir, split, hands_per_image)
        return CocoWriter(out_dir, split, hands_per_image)
    if format == "rhd":
        if hands_per_image > 2:
            raise ValueError(
                f"the rhd layout holds one left and one right hand per image, not {hands_per_image} hands; use coco"
            )
        return RhdWriter(out_dir, split)
    raise ValueError(f"unknown synthetic dataset format {format!r}; known: {', '.join(FORMATS)}")
