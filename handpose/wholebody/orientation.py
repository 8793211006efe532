"""Wrist orientation: how a hand is turned in the camera frame, from the wrist and the four finger
MCP joints (index, middle, ring, pinky), the joints Hand4Whole found informative for it: they
span the palm, which is nearly rigid, unlike the fingers and the thumb.

**The hand frame.** Axes in the hand's own terms:

- ``y``: from the centre of the four finger MCPs to the wrist (down the hand);
- ``z``: the palm's normal, pointing out of the back of the hand;
- ``x = y × z``: towards the thumb side for a right hand, the little-finger side for a left
  one (mirror images, each frame a proper right-handed rotation).

So the rotation is the identity for a hand upright in the image (fingers up), palm facing the
camera, whatever its side. The camera frame is handpose's: x right, y down, z forward (the optical
axis). The palm normal follows from the order of the index and pinky MCPs across the palm and
the hand's side (the thumb is on the index side), so the side must be the one the hand *appears*
as (``HandPrediction.hand_side``): a mirror flips it.

**What is output** (:func:`hand_orientation`, a JSON-ready dict):

- ``in_plane_deg``: always, from the 2D keypoints: the angle by which an upright hand (wrist
  below the MCPs) is turned counter-clockwise on screen to point where this one points, in
  (-180, 180]; 90: fingers to the left of the image, -90: to the right, 180: down.
- ``facing``: "palm" or "back", whichever faces the camera; from the 3D palm normal where 3D
  keypoints exist, else from 2D: the side of the wrist-to-MCP axis on which the thumb's side of
  the palm (the index MCP, against the pinky MCP) lies, given the hand's side. None where the
  hand's side is unknown or, in 2D, the palm is seen edge-on (the sine of the angle between the
  pinky-to-index and wrist-to-MCP directions in the image below :data:`EDGE_ON_SINE`: there a few
  pixels of error flip the answer). The thumb's own joints are not used: a thumb folded over the
  palm crosses the axis.
- ``source``: "3d" or "2d".
- ``rotation`` (3 x 3, rows) and ``axis_angle`` (radians, Rodrigues vector of the same
  rotation): only with 3D keypoints (``HandPrediction.keypoints_3d``, root-relative, in the
  image's camera axes). R maps hand-frame directions to camera-frame ones (its columns are the
  hand's x, y and z axes in the camera frame).

From 2D keypoints alone the out-of-plane tilt is not determined (a palm turned away by 30 degrees
looks like a narrower palm, or a smaller one), hence no rotation without 3D. "Facing the camera"
in 3D uses the direction from the camera to the wrist where camera-frame 3D exists
(``keypoints_3d_camera``), else the optical axis.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from handpose.skeleton import FINGERS, MCPS, WRIST
from handpose.structures import HandPrediction, HandSide

#: In 2D, the palm counts as edge-on (facing undecided) below this sine of the angle between the
#: pinky-to-index MCP direction and the wrist-to-MCP direction in the image (about 11.5 degrees).
EDGE_ON_SINE = 0.2

_INDEX_MCP, _PINKY_MCP = FINGERS["index"][0], FINGERS["pinky"][0]
_EPS = 1e-9


def hand_orientation(prediction: HandPrediction) -> dict[str, Any]:
    """The orientation record of one predicted hand (module docstring)."""
    keypoints = np.asarray(prediction.keypoints, dtype=np.float64)
    along = keypoints[list(MCPS)].mean(axis=0) - keypoints[WRIST]  # wrist -> MCP centre, image y down
    record: dict[str, Any] = {
        "in_plane_deg": round(float(np.degrees(np.arctan2(-along[0], -along[1]))), 2) + 0.0,  # no -0.0
        "facing": _facing_2d(keypoints, prediction.hand_side),
        "source": "2d",
    }
    rotation = None
    if prediction.keypoints_3d is not None and prediction.hand_side is not None:
        rotation = hand_rotation(prediction.keypoints_3d, prediction.hand_side)
    if rotation is None:
        return record
    view = np.array([0.0, 0.0, 1.0])
    if prediction.keypoints_3d_camera is not None and np.all(np.isfinite(prediction.keypoints_3d_camera[WRIST])):
        view = np.asarray(prediction.keypoints_3d_camera[WRIST], dtype=np.float64)
    back = rotation[:, 2]
    record.update(
        facing="palm" if float(back @ view) > 0 else "back",  # the back points away: the palm faces us
        source="3d",
        rotation=np.round(rotation, 5).tolist(),
        axis_angle=np.round(cv2.Rodrigues(rotation)[0].ravel(), 5).tolist(),
    )
    return record


def hand_rotation(keypoints_3d: np.ndarray, side: HandSide) -> np.ndarray | None:
    """The 3 x 3 rotation from the hand frame (module docstring) to the camera frame, from 3D
    keypoints (21, 3) in camera axes; None where the palm is degenerate (MCPs on a line through
    the wrist, or non-finite)."""
    points = np.asarray(keypoints_3d, dtype=np.float64)
    palm = points[[WRIST, *MCPS]]
    if not np.all(np.isfinite(palm)):
        return None
    down = points[WRIST] - points[list(MCPS)].mean(axis=0)
    if np.linalg.norm(down) < _EPS:
        return None
    y = down / np.linalg.norm(down)
    across = points[_INDEX_MCP] - points[_PINKY_MCP]  # towards the thumb's side
    # For a right hand, across x down points out of the back of the hand; a mirror flips it.
    back = np.cross(across, y) * (1.0 if side == "right" else -1.0)
    back = back - (back @ y) * y
    if np.linalg.norm(back) < _EPS:
        return None
    z = back / np.linalg.norm(back)
    return np.column_stack([np.cross(y, z), y, z])


def _facing_2d(keypoints: np.ndarray, side: HandSide | None) -> str | None:
    """Palm or back towards the camera from the image alone: in the image (y down), an upright
    right hand showing its palm has its index MCP to the right of its pinky MCP."""
    if side is None:
        return None
    along = keypoints[list(MCPS)].mean(axis=0) - keypoints[WRIST]
    across = keypoints[_INDEX_MCP] - keypoints[_PINKY_MCP]
    lengths = np.linalg.norm(along) * np.linalg.norm(across)
    if not lengths > _EPS:
        return None
    sine = float(across[0] * along[1] - across[1] * along[0]) / lengths
    if abs(sine) < EDGE_ON_SINE:
        return None
    palm_sign = -1.0 if side == "right" else 1.0
    return "palm" if sine * palm_sign > 0 else "back"
