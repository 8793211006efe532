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
from handpose.synth.scene import SynthScene

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


def make_writer(format: str, out_dir: str | Path, split: str, hands_per_image: int = 2) -> RhdWriter | CocoWriter:
    """The writer of ``format`` ("coco" or "rhd") for scenes of at most ``hands_per_image`` hands.

    RHD's layout has one slot per side, so it takes at most one left and one right hand.
    """
    if format == "coco":
        return CocoWriter(out_dir, split, hands_per_image)
    if format == "rhd":
        if hands_per_image > 2:
            raise ValueError(
                f"the rhd layout holds one left and one right hand per image, not {hands_per_image} hands; use coco"
            )
        return RhdWriter(out_dir, split)
    raise ValueError(f"unknown synthetic dataset format {format!r}; known: {', '.join(FORMATS)}")
