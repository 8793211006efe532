"""InterHand2.6M: its data, camera and joint_3d JSON files; up to two hands per image.

- ``*_data.json``: COCO-like; images carry ``capture``, ``camera``, ``frame_idx``, ``seq_name``,
  ``subject``; each image's annotation carries ``joint_valid`` (42) and ``hand_type`` (right,
  left or interacting).
- ``*_camera.json``: ``{capture: {"campos"|"camrot"|"focal"|"princpt": {camera: value}}}``.
- ``*_joint_3d.json``: ``{capture: {frame_idx: {"world_coord": 42 x 3 mm, ...}}}``.

Joints go from world to camera as ``R (X - campos)`` (R = camrot, campos the camera centre, mm)
and are projected with ``focal`` and ``princpt``. The native order holds the right hand (0-20)
then the left (21-41), each finger tip first, the wrist last (:mod:`handpose.joint_orders`).

Each hand with at least one valid joint becomes a sample whose box is that hand's keypoint box
(the annotation's ``bbox`` spans both hands); a hand without valid joints is counted as excluded.
Joints are flagged visible (2): InterHand2.6M says whether a joint is labelled, not whether it is
occluded. ``hand_type`` must be present; it is kept in ``extras``.

PATH is a ``*_data.json`` file with its two companions beside it (MMPose's layout; images resolved
against ``image_root``, default the file's folder), or the dataset root holding
``annotations/<split>/InterHand2.6M_<split>_data.json`` and ``images/<split>/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from handpose.data.readers.coco import annotation_list, image_size, images_by_id
from handpose.data.readers.common import SampleCollector, build_sample, load_json, numeric_array, project_labelled
from handpose.geometry.camera import intrinsics
from handpose.joint_orders import TWO_HAND_SIDES, hand_joints
from handpose.structures import VISIBLE, SampleError

_HAND_TYPES = ("right", "left", "interacting")
_DATA_SUFFIX = "_data.json"


def read(path: Path, split: str | None, collector: SampleCollector, *, image_root: str | Path | None = None) -> None:
    """InterHand2.6M (data, camera, joint_3d JSON; two hands per image); PATH a *_data.json, or the root with splits train, val, test."""
    data_path, default_root = _data_file(path, split)
    prefix = str(data_path)[: -len(_DATA_SUFFIX)]
    data = load_json(data_path)
    cameras = load_json(Path(prefix + "_camera.json"))
    joints_3d = load_json(Path(prefix + "_joint_3d.json"))
    images = images_by_id(data, data_path)
    root = Path(image_root) if image_root is not None else default_root
    for ann in annotation_list(data, data_path):
        image = images.get(ann.get("image_id"))
        image_name = image["file_name"] if image else f"image_id {ann.get('image_id')}"
        for side in TWO_HAND_SIDES:
            sample_id = f"{image_name}/{side}"
            with collector.guard(sample_id, data_path):
                if image is None:
                    raise SampleError(f"image_id {ann.get('image_id')!r} is not among the file's images")
                K, camera_frame, valid = _camera_frame_joints(ann, image, cameras, joints_3d)
                hand_valid = hand_joints(valid[:, None], "interhand", side)[:, 0]
                if not hand_valid.any():
                    collector.exclude(f"{side} hand without valid joints")
                    continue
                hand_3d = hand_joints(camera_frame, "interhand", side)
                collector.add(
                    build_sample(
                        source=collector.source,
                        sample_id=sample_id,
                        image=root / image["file_name"],
                        keypoints_2d=project_labelled(hand_3d, K, hand_valid),
                        visibility=np.where(hand_valid, VISIBLE, 0),
                        hand_side=side,
                        image_size=image_size(image),
                        keypoints_3d=hand_3d,
                        K=K,
                        extras={
                            **{key: image[key] for key in ("capture", "subject", "seq_name", "camera", "frame_idx") if key in image},
                            "hand_type": ann["hand_type"],
                            "image_id": image["id"],
                            "group": image["file_name"],
                        },
                    )
                )


def _camera_frame_joints(ann: dict, image: dict, cameras: Any, joints_3d: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K, the 42 native joints in the camera frame (mm) and their validity."""
    if ann.get("hand_type") not in _HAND_TYPES:
        raise SampleError(f"hand_type is {ann.get('hand_type')!r}, expected one of {_HAND_TYPES}")
    K, rotation, centre = _camera(cameras, image)
    world = numeric_array(_frame(joints_3d, image).get("world_coord"), (42, 3), "world_coord")
    valid = numeric_array(ann.get("joint_valid"), (42, 1), "joint_valid")[:, 0] > 0
    return K, (world - centre) @ rotation.T, valid


def _data_file(path: Path, split: str | None) -> tuple[Path, Path]:
    """The data JSON and the default image folder."""
    if path.is_dir():
        if split is None:
            raise ValueError(f"{path} is a folder: give --split (train, val or test) or a *_data.json file")
        return path / "annotations" / split / f"InterHand2.6M_{split}{_DATA_SUFFIX}", path / "images" / split
    if not path.name.endswith(_DATA_SUFFIX):
        raise ValueError(f"{path}: expected the *{_DATA_SUFFIX} file of InterHand2.6M")
    return path, path.parent


def _camera(cameras: Any, image: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K, the world-to-camera rotation and the camera centre of the image's camera."""
    capture, camera = str(image.get("capture")), str(image.get("camera"))
    try:
        params = {key: cameras[capture][key][camera] for key in ("campos", "camrot", "focal", "princpt")}
    except (KeyError, TypeError):
        raise SampleError(f"camera {camera} of capture {capture} is not in the camera file") from None
    fx, fy = numeric_array(params["focal"], (2,), "focal")
    cx, cy = numeric_array(params["princpt"], (2,), "princpt")
    rotation = numeric_array(params["camrot"], (3, 3), "camrot")
    return intrinsics(fx, fy, cx, cy), rotation, numeric_array(params["campos"], (3,), "campos")


def _frame(joints_3d: Any, image: dict) -> dict:
    capture, frame = str(image.get("capture")), str(image.get("frame_idx"))
    try:
        return dict(joints_3d[capture][frame])
    except (KeyError, TypeError, ValueError):
        raise SampleError(f"frame {frame} of capture {capture} is not in the joint_3d file") from None
