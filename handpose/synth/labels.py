"""Exact labels derived from the render: keypoint visibility by depth test, hand boxes.

A joint lies inside the flesh, so its own depth is behind the surface the camera sees at its
pixel by up to the local flesh radius. It is visible when that surface belongs to its own hand
and lies no more than a tolerance of the order of that radius in front of the joint; anything
nearer (another finger, the other hand, an object) occludes it.
"""

from __future__ import annotations

import numpy as np

from handpose.synth.hand_shape import HandShape

#: Slack added to every joint's flesh radius in the depth test, mm.
DEPTH_SLACK = 3.0
#: Factor on the flesh radius: the surface can bulge past the joint's own radius near knuckles.
RADIUS_FACTOR = 1.3


def joint_tolerances(shape: HandShape) -> np.ndarray:
    """(21,) depth tolerance per joint, mm: the flesh radius around it, with some slack."""
    radius = np.empty(21)
    radius[0] = max(shape.palm_half_thickness, shape.forearm_radius[0])
    radius[1:] = shape.radii.reshape(20)
    radius[1] = max(radius[1], 1.2 * shape.palm_half_thickness)  # thumb CMC, inside the thenar
    mcps = np.array([5, 9, 13, 17])
    radius[mcps] = np.maximum(radius[mcps], shape.palm_half_thickness)
    return RADIUS_FACTOR * radius + DEPTH_SLACK


def keypoint_visibility(
    keypoints_3d: np.ndarray,
    keypoints_2d: np.ndarray,
    depth: np.ndarray,
    mask: np.ndarray,
    hand_classes: range,
    tolerance: np.ndarray,
) -> np.ndarray:
    """(21,) bool: joints inside the image whose pixel shows their own hand within ``tolerance`` mm.

    ``depth`` is the rendered camera depth in mm (0 where nothing was hit), ``mask`` the
    segmentation classes, ``hand_classes`` the classes of this hand.
    """
    h, w = depth.shape
    px = np.rint(keypoints_2d).astype(int)
    inside = (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
    visible = np.zeros(len(keypoints_2d), bool)
    x, y = px[inside, 0], px[inside, 1]
    seen = depth[y, x]
    own = (mask[y, x] >= hand_classes.start) & (mask[y, x] < hand_classes.stop)
    visible[inside] = own & (seen > 0) & (seen >= keypoints_3d[inside, 2] - tolerance[inside])
    return visible


def hand_box(keypoints_2d: np.ndarray, mask: np.ndarray, hand_classes: range) -> np.ndarray:
    """x0, y0, x1, y1 around the hand's pixels and its keypoints, clipped to the image."""
    h, w = mask.shape
    ys, xs = np.nonzero((mask >= hand_classes.start) & (mask < hand_classes.stop))
    xs = np.concatenate([xs.astype(float), keypoints_2d[:, 0]])
    ys = np.concatenate([ys.astype(float), keypoints_2d[:, 1]])
    box = np.array([xs.min(), ys.min(), xs.max(), ys.max()])
    box = np.clip(box, 0.0, [w - 1, h - 1, w - 1, h - 1])
    box[2:] = np.maximum(box[2:], box[:2] + 1.0)
    return box
