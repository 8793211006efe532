"""Drawing the hand skeleton over an image, to check labels and predictions by eye.

Visible joints are filled discs with solid bones; occluded joints (COCO flag 1) are hollow rings,
and a bone touching one is drawn thin, so that guessed positions stand apart from seen ones.
Unlabelled joints (flag 0) and their bones are not drawn.
"""

from __future__ import annotations

import cv2
import numpy as np

from handpose.skeleton import BONE_COLORS, BONES, JOINT_COLORS, NUM_JOINTS
from handpose.structures import NOT_LABELLED, OCCLUDED, VISIBLE

_SHIFT = 4  # fixed-point bits, so that points are drawn at sub-pixel positions
_SCALE = 1 << _SHIFT


def draw_skeleton(
    image: np.ndarray,
    keypoints_2d: np.ndarray,
    visibility: np.ndarray | None = None,
    radius: int | None = None,
    thickness: int | None = None,
) -> np.ndarray:
    """A copy of the RGB ``image`` with the 21-joint skeleton drawn on it (pixel convention of
    :mod:`handpose.geometry.camera`); ``visibility`` defaults to all visible; ``radius`` and
    ``thickness`` default to sizes that suit the image."""
    canvas = np.ascontiguousarray(image, dtype=np.uint8).copy()
    kp = np.asarray(keypoints_2d, dtype=np.float64)
    if kp.shape != (NUM_JOINTS, 2):
        raise ValueError(f"keypoints_2d has shape {kp.shape}, expected ({NUM_JOINTS}, 2)")
    vis = np.full(NUM_JOINTS, VISIBLE) if visibility is None else np.asarray(visibility)
    drawable = (vis > NOT_LABELLED) & np.all(np.isfinite(kp), axis=1)
    side = min(canvas.shape[:2])
    radius = radius or max(2, round(side / 80))
    thickness = thickness or max(1, round(side / 160))
    fixed = np.round(np.where(drawable[:, None], kp, 0.0) * _SCALE).astype(np.int64)
    for (parent, child), color in zip(BONES, BONE_COLORS):
        if drawable[parent] and drawable[child]:
            occluded = vis[parent] == OCCLUDED or vis[child] == OCCLUDED
            width = max(1, thickness // 2) if occluded else thickness
            cv2.line(canvas, _point(fixed[parent]), _point(fixed[child]), color, width, cv2.LINE_AA, _SHIFT)
    for j in np.flatnonzero(drawable):
        centre = _point(fixed[j])
        if vis[j] == OCCLUDED:
            cv2.circle(canvas, centre, radius * _SCALE, JOINT_COLORS[j], max(1, thickness // 2), cv2.LINE_AA, _SHIFT)
        else:
            cv2.circle(canvas, centre, radius * _SCALE, JOINT_COLORS[j], -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(canvas, centre, radius * _SCALE, (0, 0, 0), 1, cv2.LINE_AA, _SHIFT)
    return canvas


def _point(fixed: np.ndarray) -> tuple[int, int]:
    return int(fixed[0]), int(fixed[1])
