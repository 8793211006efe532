"""STB, the Stereo Hand Pose Tracking Benchmark (Zhang et al. 2017), colour images of its SK camera.

Layout: ``<root>/labels/<sequence>_SK.mat`` holding ``handPara`` (3 x 21 x N, mm) and
``<root>/images/<sequence>/SK_color_<i>.png`` (640 x 480) with ``SK_depth_<i>.png`` beside them.
Sequences are B1..B6 Counting/Random; split ``test`` is B1 and ``train`` B2-B6 (the usual
protocol of Zimmermann & Brox); none given: every labelled sequence present.

STB's joints are the palm centre, then pinky, ring, middle, index, thumb, each base to tip (order
"stb" of :mod:`handpose.joint_orders`). STB labels no wrist: the palm centre is put in the wrist's
place and ``extras["root_joint"]`` says so. The SK labels are in the frame of the SK depth sensor;
the dataset's readme gives the rotation (Rodrigues vector) and translation that take colour-camera
coordinates to depth-camera ones, ``d = R c + t``, so the colour frame is ``c = R^T (d - t)``,
projected with the SK colour intrinsics. STB shows left hands. All joints are flagged visible.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from handpose.data.readers.common import (
    SampleCollector,
    build_sample,
    existing_file,
    numeric_array,
    project_labelled,
    require_dir,
)
from handpose.data.readers.depth import packed_depth
from handpose.geometry.camera import intrinsics
from handpose.joint_orders import get_order, to_canonical
from handpose.skeleton import NUM_JOINTS
from handpose.structures import VISIBLE, SampleError

#: SK colour camera (Intel RealSense F200) intrinsics, from STB's readme.
SK_COLOR_K = intrinsics(607.92271, 607.88192, 314.78337, 236.42484)
#: Colour-to-depth camera transform of the SK sensor, from STB's readme (rotation vector, mm).
SK_ROTATION = cv2.Rodrigues(np.array([0.00531, -0.01196, 0.00301]))[0]
SK_TRANSLATION = np.array([-24.0381, -0.4563, -1.2326])
IMAGE_SIZE = (640, 480)
SPLIT_SEQUENCES = {
    "test": tuple(f"B1{kind}" for kind in ("Counting", "Random")),
    "train": tuple(f"B{i}{kind}" for i in range(2, 7) for kind in ("Counting", "Random")),
}


def read(path: Path, split: str | None, collector: SampleCollector) -> None:
    """STB as distributed (labels/<sequence>_SK.mat, images/<sequence>/SK_color_<i>.png); splits train (B2-B6), test (B1)."""
    labels = require_dir(path / "labels", "STB labels folder")
    if split is not None and split not in SPLIT_SEQUENCES:
        raise ValueError(f"split must be one of {tuple(SPLIT_SEQUENCES)}, got {split!r}")
    wanted = SPLIT_SEQUENCES[split] if split else None
    mat_paths = [p for p in sorted(labels.glob("*_SK.mat")) if wanted is None or p.name[: -len("_SK.mat")] in wanted]
    if not mat_paths:
        raise SampleError(f"{labels}: no <sequence>_SK.mat label file" + (f" for split {split}" if split else ""))
    for mat_path in mat_paths:
        sequence = mat_path.name[: -len("_SK.mat")]
        hand_para = _hand_para(mat_path)
        for frame in range(hand_para.shape[2]):
            sample_id = f"{sequence}/{frame}"
            with collector.guard(sample_id, mat_path):
                depth_frame = to_canonical(numeric_array(hand_para[:, :, frame].T, (NUM_JOINTS, 3), "handPara frame"), "stb")
                colour_frame = (depth_frame - SK_TRANSLATION) @ SK_ROTATION
                labelled = np.ones(NUM_JOINTS, dtype=bool)
                images = path / "images" / sequence
                collector.add(
                    build_sample(
                        source=collector.source,
                        sample_id=sample_id,
                        image=images / f"SK_color_{frame}.png",
                        keypoints_2d=project_labelled(colour_frame, SK_COLOR_K, labelled),
                        visibility=np.full(NUM_JOINTS, VISIBLE),
                        hand_side="left",
                        image_size=IMAGE_SIZE,
                        keypoints_3d=colour_frame,
                        K=SK_COLOR_K,
                        depth=packed_depth(existing_file(images / f"SK_depth_{frame}.png"), "stb"),
                        extras={
                            "sequence": sequence,
                            "frame_index": frame,
                            "root_joint": get_order("stb").root_joint,
                            "group": sequence,
                        },
                    )
                )


def _hand_para(mat_path: Path) -> np.ndarray:
    """The (3, 21, N) ``handPara`` array of an SK label file."""
    from scipy.io import loadmat

    try:
        hand_para = loadmat(str(mat_path))["handPara"]
    except KeyError:
        raise SampleError(f"{mat_path}: no handPara array") from None
    except Exception as error:  # scipy raises several kinds of error on a damaged file
        raise SampleError(f"{mat_path}: not a readable .mat file ({type(error).__name__}: {error})") from None
    if hand_para.ndim != 3 or hand_para.shape[:2] != (3, NUM_JOINTS):
        raise SampleError(f"{mat_path}: handPara has shape {hand_para.shape}, expected (3, {NUM_JOINTS}, frames)")
    return hand_para
