"""The generic COCO-style hand format: MMPose's converted hand sets, the real set, the synthetic set.

``{"images": [...], "annotations": [...]}`` as in COCO keypoints, one annotation per hand with 21
keypoints, flat ``[x, y, v, ...]`` or nested ``[[x, y, v], ...]``. Optional: ``joint_cam`` (21x3,
mm, camera frame) and ``hand_type`` ("left"/"right") on the annotation, ``cam_param`` {"focal":
[fx, fy], "princpt": [cx, cy]} and ``width``/``height`` on the image. Every other image or
annotation field (subject, sequence, frame_index, head_size, ...) is kept in ``extras``.

Options: ``joint_order`` names the keypoints' order (:mod:`handpose.joint_orders`; "rhd_hand" for
MMPose's RHD conversion, whose fingers run tip to palm); ``visibility`` is "coco" (0/1/2 flags),
"binary" (0/1 meaning not labelled/labelled, as MMPose's conversions write) or "auto" (binary
when no keypoint in the file carries flag 2); ``image_root`` is where ``file_name`` is resolved
(default: the JSON's folder). When any annotation of a file has ``hand_type``, every one must.
PATH is the JSON file, or a folder holding ``annotations.json`` (``<split>.json`` with a split).

``empty_images`` (off by default) also yields, for each image that no annotation refers to, one
stand-in sample marked ``extras[NO_HAND] = True``: no labelled keypoint, no side, the whole image
as its box. A detector learns from such images that a scene may hold no hand; pose training
must leave the option off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from handpose.data.readers.common import (
    SampleCollector,
    build_sample,
    coco_flags,
    keypoint_triplets,
    load_json,
    numeric_array,
    parse_hand_side,
    xywh_box,
)
from handpose.geometry.camera import intrinsics
from handpose.joint_orders import get_order, to_canonical
from handpose.skeleton import NUM_JOINTS
from handpose.structures import HandSample, SampleError

#: Image fields with a meaning of their own; the others go to ``extras``.
_STANDARD_IMAGE_FIELDS = frozenset(
    {"id", "file_name", "width", "height", "cam_param", "license", "coco_url", "flickr_url", "date_captured"}
)
_READ_ANNOTATION_FIELDS = frozenset(
    {"id", "image_id", "category_id", "iscrowd", "bbox", "area", "keypoints", "num_keypoints", "segmentation", "joint_cam", "hand_type"}
)

#: ``extras`` key marking the stand-in sample of an image without hands (option ``empty_images``).
NO_HAND = "no_hand"


def read(
    path: Path,
    split: str | None,
    collector: SampleCollector,
    *,
    image_root: str | Path | None = None,
    joint_order: str = "canonical",
    visibility: Literal["auto", "coco", "binary"] = "auto",
    empty_images: bool | str = False,
) -> None:
    """Generic COCO-style hand JSON (MMPose conversions, the real set, synthetic data); PATH the JSON or its folder."""
    if get_order(joint_order).num_joints != NUM_JOINTS:
        raise ValueError(f"joint_order {joint_order!r} is not a one-hand order")
    if visibility not in ("auto", "coco", "binary"):
        raise ValueError(f"visibility must be 'auto', 'coco' or 'binary', got {visibility!r}")
    if str(empty_images).lower() not in ("true", "false"):  # a data spec's options arrive as text
        raise ValueError(f"empty_images must be true or false, got {empty_images!r}")
    json_path = annotation_path(path, split)
    data = load_json(json_path)
    images = images_by_id(data, json_path)
    annotations = annotation_list(data, json_path)
    root = Path(image_root) if image_root is not None else json_path.parent
    binary = visibility == "binary" or (visibility == "auto" and not _uses_flag_two(annotations))
    sides_given = any("hand_type" in ann for ann in annotations)
    for index, ann in enumerate(annotations):
        image = images.get(ann.get("image_id"))
        sample_id = f"{image['file_name'] if image else ann.get('image_id')}#{ann.get('id', index)}"
        with collector.guard(sample_id, json_path):
            if image is None:
                raise SampleError(f"image_id {ann.get('image_id')!r} is not among the file's images")
            triplets = to_canonical(keypoint_triplets(ann.get("keypoints")), joint_order)
            joint_cam = ann.get("joint_cam")
            collector.add(
                build_sample(
                    source=collector.source,
                    sample_id=sample_id,
                    image=root / image["file_name"],
                    keypoints_2d=triplets[:, :2],
                    visibility=coco_flags(triplets[:, 2], binary=binary),
                    hand_side=parse_hand_side(ann.get("hand_type")) if sides_given else None,
                    image_size=image_size(image),
                    box=xywh_box(ann.get("bbox")),
                    keypoints_3d=None if joint_cam is None else to_canonical(numeric_array(joint_cam, (NUM_JOINTS, 3), "joint_cam"), joint_order),
                    K=camera_matrix(image.get("cam_param")),
                    extras={**extra_fields(image, _STANDARD_IMAGE_FIELDS), **extra_fields(ann, _READ_ANNOTATION_FIELDS),
                            "image_id": image["id"], "annotation_id": ann.get("id"), "group": image["file_name"]},
                )
            )
    if str(empty_images).lower() == "true":
        annotated = {ann.get("image_id") for ann in annotations}
        for image in images.values():
            if image["id"] not in annotated:
                sample_id = f"{image['file_name']}#{NO_HAND}"
                with collector.guard(sample_id, json_path):
                    collector.add(_hand_less_sample(collector.source, sample_id, root, image))


def _hand_less_sample(source: str, sample_id: str, root: Path, image: dict) -> HandSample:
    """The stand-in sample of an image without hands (see the module docstring)."""
    file = root / image["file_name"]
    if not file.is_file():
        raise SampleError(f"image file {file} is missing")
    size = image_size(image)
    if size is None:
        raise SampleError("an image without hands needs its width and height in the image entry")
    return HandSample(
        image=file,
        keypoints_2d=np.zeros((NUM_JOINTS, 2)),
        visibility=np.zeros(NUM_JOINTS, np.int8),
        hand_side=None,
        box=np.array([0.0, 0.0, size[0] - 1.0, size[1] - 1.0]),
        source=source,
        sample_id=sample_id,
        K=camera_matrix(image.get("cam_param")),
        extras={**extra_fields(image, _STANDARD_IMAGE_FIELDS), "image_id": image["id"], "group": image["file_name"],
                "image_size": size, NO_HAND: True},
    ).validate()


def annotation_path(path: Path, split: str | None) -> Path:
    """The JSON file itself, or ``annotations.json`` / ``<split>.json`` in a folder."""
    if path.is_dir():
        return path / (f"{split}.json" if split else "annotations.json")
    if split is not None:
        raise ValueError(f"split {split!r} given, but {path} is a single annotation file; pass the split's file")
    return path


def images_by_id(data: Any, json_path: Path) -> dict[Any, dict]:
    """The file's ``images`` indexed by id; a missing list, a nameless image or a repeated id raises."""
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise SampleError(f"{json_path}: no 'images' list; not a COCO-style annotation file")
    images: dict[Any, dict] = {}
    for image in data["images"]:
        if not isinstance(image, dict) or "file_name" not in image or "id" not in image:
            raise SampleError(f"{json_path}: an image entry lacks 'id' or 'file_name': {str(image)[:200]}")
        if image["id"] in images:
            raise SampleError(f"{json_path}: image id {image['id']!r} occurs twice")
        images[image["id"]] = image
    return images


def annotation_list(data: dict, json_path: Path) -> list[dict]:
    annotations = data.get("annotations")
    if not isinstance(annotations, list) or not all(isinstance(ann, dict) for ann in annotations):
        raise SampleError(f"{json_path}: no 'annotations' list of objects; not a COCO-style annotation file")
    return annotations


def image_size(image: dict) -> tuple[int, int] | None:
    """(width, height) when the image entry gives both, positive; else None."""
    try:
        width, height = int(image["width"]), int(image["height"])
    except (KeyError, TypeError, ValueError):
        return None
    return (width, height) if width > 0 and height > 0 else None


def camera_matrix(cam_param: Any) -> np.ndarray | None:
    """K from ``{"focal": [fx, fy], "princpt": [cx, cy]}``; None when absent."""
    if cam_param is None:
        return None
    if not isinstance(cam_param, dict):
        raise SampleError(f"cam_param is {cam_param!r}, expected {{'focal': [fx, fy], 'princpt': [cx, cy]}}")
    fx, fy = numeric_array(cam_param.get("focal"), (2,), "cam_param focal")
    cx, cy = numeric_array(cam_param.get("princpt"), (2,), "cam_param princpt")
    return intrinsics(fx, fy, cx, cy)


def extra_fields(entry: dict, consumed: frozenset[str]) -> dict:
    return {key: value for key, value in entry.items() if key not in consumed}


def _uses_flag_two(annotations: list[dict]) -> bool:
    for ann in annotations:
        try:
            flags = np.asarray(ann.get("keypoints"), dtype=np.float64).reshape(-1, 3)[:, 2]
        except (TypeError, ValueError):
            continue  # a broken label is reported when its sample is read
        if np.any(flags == 2):
            return True
    return False
