"""The canonical 3D hand frame of Zimmermann & Brox (ICCV 2017), forward and inverse.

Their PosePrior predicts a hand's shape in a frame that removes position, size, viewpoint and
side, and separately the viewpoint (a rotation); this module builds that frame from camera-frame
keypoints and undoes it. Following their ``canonical_trafo`` and ``flip_right_hand``:

- the root (the wrist) moves to the origin;
- lengths are divided by a reference bone, the first phalanx of the middle finger (MCP to PIP);
- a proper rotation puts the middle finger's MCP on the negative y axis and the pinky's MCP in
  the xy plane with x > 0 (such a rotation is unique, so it is built directly from those axes);
- right hands are then mirrored (z -> -z), so both sides share the frame of a left hand.

Inputs are in the canonical joint order of :mod:`handpose.skeleton`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from handpose.skeleton import FINGERS, NUM_JOINTS, ROOT

#: The side whose shape the canonical frame holds; the other side is mirrored into it.
CANONICAL_SIDE = "left"

MIDDLE_MCP, MIDDLE_PIP = FINGERS["middle"][:2]
PINKY_MCP = FINGERS["pinky"][0]

#: Mirror of the canonical frame across its xy plane (the palm plane), which swaps hand sides.
_CANONICAL_MIRROR = np.array([1.0, 1.0, -1.0])


@dataclass(frozen=True)
class CanonicalPose:
    """A hand split into canonical shape and the transform that places it in the camera frame.

    ``keypoints_3d = scale * mirror(coords) @ rotation + root``, where ``mirror`` flips z for
    hands that are not :data:`CANONICAL_SIDE`. Shapes: coords (..., 21, 3) in reference-bone
    units, rotation (..., 3, 3) camera -> canonical (det +1), scale (...) mm, root (..., 3) mm.
    """

    coords: np.ndarray
    rotation: np.ndarray
    scale: np.ndarray
    root: np.ndarray


def to_canonical(keypoints_3d: np.ndarray, hand_side: str | Sequence[str] | np.ndarray) -> CanonicalPose:
    """Canonical shape and viewpoint of camera-frame keypoints (..., 21, 3).

    ``hand_side`` is "left"/"right" for all hands or an array of them shaped like the batch.
    Raises ValueError when a hand's reference joints do not define the frame (non-finite,
    coincident, or the pinky MCP on the line of the wrist-to-middle-MCP bone).
    """
    keypoints = np.asarray(keypoints_3d, dtype=np.float64)
    if keypoints.shape[-2:] != (NUM_JOINTS, 3):
        raise ValueError(f"keypoints_3d must have shape (..., {NUM_JOINTS}, 3), got {keypoints.shape}")
    mirror = _side_mirror(hand_side, keypoints.shape[:-2])
    root = keypoints[..., ROOT, :]
    relative = keypoints - root[..., None, :]
    scale = np.linalg.norm(keypoints[..., MIDDLE_PIP, :] - keypoints[..., MIDDLE_MCP, :], axis=-1)
    middle, pinky = relative[..., MIDDLE_MCP, :], relative[..., PINKY_MCP, :]
    middle_length = np.linalg.norm(middle, axis=-1)
    _require(scale, "the middle finger's MCP-PIP bone has no length")
    _require(middle_length, "the wrist and the middle finger's MCP coincide")
    y_axis = -middle / middle_length[..., None]
    across = pinky - np.einsum("...i,...i->...", pinky, y_axis)[..., None] * y_axis
    across_length = np.linalg.norm(across, axis=-1)
    pinky_length = np.maximum(np.linalg.norm(pinky, axis=-1), np.finfo(np.float64).tiny)
    _require(across_length / pinky_length, "the pinky MCP lies on the wrist-middle MCP line")
    x_axis = across / across_length[..., None]
    rotation = np.stack([x_axis, y_axis, np.cross(x_axis, y_axis)], axis=-2)
    coords = np.einsum("...ij,...nj->...ni", rotation, relative) / scale[..., None, None]
    return CanonicalPose(coords=coords * mirror[..., None, :], rotation=rotation, scale=scale, root=root)


def from_canonical(pose: CanonicalPose, hand_side: str | Sequence[str] | np.ndarray) -> np.ndarray:
    """Camera-frame keypoints (..., 21, 3) from a canonical pose; the inverse of :func:`to_canonical`."""
    coords = np.asarray(pose.coords, dtype=np.float64)
    mirror = _side_mirror(hand_side, coords.shape[:-2])
    unmirrored = coords * mirror[..., None, :]
    rotated = np.einsum("...ji,...nj->...ni", np.asarray(pose.rotation, dtype=np.float64), unmirrored)
    return np.asarray(pose.scale)[..., None, None] * rotated + np.asarray(pose.root)[..., None, :]


def _side_mirror(hand_side: str | Sequence[str] | np.ndarray, batch_shape: tuple[int, ...]) -> np.ndarray:
    """(..., 3) per-axis factors: identity for the canonical side, z mirrored for the other."""
    sides = np.asarray(hand_side, dtype=object)
    unknown = {s for s in sides.ravel().tolist() if s not in ("left", "right")}
    if unknown:
        raise ValueError(
            f"hand_side must be 'left' or 'right' for the canonical frame, got {sorted(map(repr, unknown))}"
        )
    try:
        sides = np.broadcast_to(sides, batch_shape)
    except ValueError:
        raise ValueError(f"hand_side of shape {sides.shape} does not match a batch of shape {batch_shape}") from None
    other = sides != CANONICAL_SIDE
    return np.where(other[..., None], _CANONICAL_MIRROR, 1.0)


def _require(lengths: np.ndarray, problem: str) -> None:
    bad = ~(np.isfinite(lengths) & (lengths > 1e-9))
    if np.any(bad):
        where = np.argwhere(np.atleast_1d(bad))[:5].tolist()
        raise ValueError(f"canonical frame undefined for hand(s) at batch index {where}: {problem} (or is not finite)")
