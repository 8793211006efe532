"""RHD, the Rendered Hand Pose Dataset (Zimmermann & Brox 2017), as distributed.

Layout: ``<root>/<split>/anno_<split>.pickle`` with ``color/%05d.png``, ``mask/%05d.png`` and
``depth/%05d.png`` beside it (split: ``training`` or ``evaluation``; none given: both). The pickle
maps each image index to ``xyz`` (42 x 3, metres, camera frame), ``uv_vis`` (42 x 3: u, v in
pixels and 1 where the keypoint is visible) and ``K`` (3 x 3). The 42 joints are the left hand
then the right, each tip to palm inside a finger (:mod:`handpose.joint_orders`, order "rhd").
RHD's images are 320 x 320 (option ``image_size`` for other sets in this layout, e.g. handpose's
synthetic ones), used to tell keypoints far outside the image.

Each hand with at least ``min_visible_joints`` visible keypoints (RHD's flag, which is false for
keypoints occluded or outside the frame) becomes a sample; the others are counted as excluded.
This uses the annotation's visibility counts rather than the mask, so reading needs no image.
Keypoints not flagged visible stay labelled as occluded (1): RHD renders every joint's position.
3D is converted to mm. ``mask`` points at the label mask (0 background, 1 person, 2-17 left hand,
18-33 right hand); ``depth`` a :class:`~handpose.data.readers.depth.PackedDepth` of the packed PNG (see
:mod:`handpose.data.readers.depth`).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from handpose.data.readers.common import (
    SampleCollector,
    build_sample,
    existing_file,
    numeric_array,
    require_file,
    split_names,
)
from handpose.data.readers.depth import packed_depth
from handpose.joint_orders import TWO_HAND_SIDES, hand_joints
from handpose.structures import OCCLUDED, VISIBLE, SampleError

SPLITS = ("training", "evaluation")
RHD_IMAGE_SIZE = 320


def read(
    path: Path,
    split: str | None,
    collector: SampleCollector,
    *,
    min_visible_joints: int | str = 10,
    image_size: int | str = RHD_IMAGE_SIZE,
) -> None:
    """RHD as distributed (anno_<split>.pickle, color/, mask/, depth/); splits training, evaluation."""
    min_visible_joints = int(min_visible_joints)  # options may come from the command line as text
    side_px = int(image_size)
    for name in split_names(path, split, SPLITS):
        folder = path / name
        pickle_path = require_file(folder / f"anno_{name}.pickle", "RHD annotation file")
        annotations = _load_pickle(pickle_path)
        for index in sorted(annotations):
            for side in TWO_HAND_SIDES:
                sample_id = f"{name}/{index:05d}/{side}"
                with collector.guard(sample_id, pickle_path):
                    label = annotations[index]
                    if not isinstance(label, dict):
                        raise SampleError(f"label is a {type(label).__name__}, expected a dict with xyz, uv_vis and K")
                    uv_vis = hand_joints(numeric_array(label.get("uv_vis"), (42, 3), "uv_vis"), "rhd", side)
                    visible = uv_vis[:, 2] == 1
                    if visible.sum() < min_visible_joints:
                        collector.exclude(f"{side} hand with fewer than {min_visible_joints} visible keypoints")
                        continue
                    file_name = f"{index:05d}.png"
                    collector.add(
                        build_sample(
                            source=collector.source,
                            sample_id=sample_id,
                            image=folder / "color" / file_name,
                            keypoints_2d=uv_vis[:, :2],
                            visibility=np.where(visible, VISIBLE, OCCLUDED),
                            hand_side=side,
                            image_size=(side_px, side_px),
                            keypoints_3d=hand_joints(numeric_array(label.get("xyz"), (42, 3), "xyz"), "rhd", side) * 1000.0,
                            K=numeric_array(label.get("K"), (3, 3), "K"),
                            mask=existing_file(folder / "mask" / file_name),
                            depth=packed_depth(existing_file(folder / "depth" / file_name), "rhd"),
                            extras={"image_index": index, "group": f"{name}/{index:05d}"},
                        )
                    )


def _load_pickle(path: Path) -> dict[int, Any]:
    """RHD's annotation pickle (trusted input: pickle runs code, as the dataset's format requires)."""
    try:
        with open(path, "rb") as f:
            annotations = pickle.load(f, encoding="latin1")  # latin1: the arrays were pickled by Python 2
    except Exception as error:  # unpickling raises many kinds of error on a damaged file
        raise SampleError(f"{path}: not a readable annotation pickle ({type(error).__name__}: {error})") from None
    if not isinstance(annotations, dict) or not all(isinstance(key, int) for key in annotations):
        raise SampleError(f"{path}: holds a {type(annotations).__name__}, expected a dict of image index (int) to label")
    return annotations
