"""A small 3D view of each hand's predicted skeleton, inset in the overlay's top-right corner.

The overlay's skeleton already shows the hand as the camera sees it, so the inset turns the 3D
(root-relative, camera frame: x right, y down, z away from the camera) by :data:`VIEW_YAW_DEGREES`
about the vertical axis and tilts it by :data:`VIEW_PITCH_DEGREES`: depth, which the picture
cannot show, becomes visible as sideways spread (a finger pointing at the camera leans to one
side). Each hand gets its own panel, right to left in the order of the predictions, framed in the
colour of its side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from handpose.viz.skeleton_overlay import draw_skeleton

#: The inset's turn about the vertical (y) axis and tilt about the horizontal one, degrees.
VIEW_YAW_DEGREES = 60.0
VIEW_PITCH_DEGREES = 20.0

#: A panel's side as a share of the picture's shorter side, and its smallest side in pixels.
PANEL_SHARE = 0.25
MIN_PANEL_PX = 48

_BACKGROUND = np.array([24, 24, 24], dtype=np.float64)
_OPACITY = 0.8


def view_rotation(yaw_degrees: float = VIEW_YAW_DEGREES, pitch_degrees: float = VIEW_PITCH_DEGREES) -> np.ndarray:
    """The 3x3 rotation of the inset's viewpoint: yaw about y, then pitch about x."""
    yaw, pitch = math.radians(yaw_degrees), math.radians(pitch_degrees)
    about_y = np.array([[math.cos(yaw), 0.0, math.sin(yaw)], [0.0, 1.0, 0.0], [-math.sin(yaw), 0.0, math.cos(yaw)]])
    about_x = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(pitch), -math.sin(pitch)], [0.0, math.sin(pitch), math.cos(pitch)]])
    return about_x @ about_y


def draw_3d_views(
    canvas: np.ndarray, hands_3d: Sequence[np.ndarray], colors: Sequence[tuple[int, int, int]]
) -> np.ndarray:
    """``canvas`` (RGB) with one framed panel per 3D skeleton (21, 3; any unit, any origin) in
    ``hands_3d``, in its colour from ``colors``; panels that would leave the picture are left out."""
    image_side = min(canvas.shape[:2])
    panel = max(MIN_PANEL_PX, round(PANEL_SHARE * image_side))
    margin = max(2, panel // 16)
    rotation = view_rotation()
    for index, (points, color) in enumerate(zip(hands_3d, colors)):
        x1 = canvas.shape[1] - margin - index * (panel + margin)
        x0, y0, y1 = x1 - panel, margin, margin + panel
        if x0 < 0 or y1 > canvas.shape[0]:
            break
        turned = (np.asarray(points, dtype=np.float64) @ rotation.T)[:, :2]
        if not np.isfinite(turned).all():
            continue
        extent = float(np.max(turned.max(axis=0) - turned.min(axis=0)))
        scale = 0.8 * panel / extent if extent > 0 else 1.0
        middle = (turned.max(axis=0) + turned.min(axis=0)) / 2.0
        pixels = (turned - middle) * scale + [(x0 + x1 - 1) / 2.0, (y0 + y1 - 1) / 2.0]
        area = canvas[y0:y1, x0:x1].astype(np.float64)
        canvas[y0:y1, x0:x1] = np.round(_OPACITY * _BACKGROUND + (1 - _OPACITY) * area).astype(np.uint8)
        canvas = draw_skeleton(canvas, pixels, radius=max(1, panel // 40), thickness=max(1, panel // 60))
        canvas[y0:y1, [x0, x1 - 1]] = color
        canvas[[y0, y1 - 1], x0:x1] = color
    return canvas
