"""Horizontal mirroring: it turns a left hand into a right hand.

A model can then be trained and run on right hands only, and its predictions mirrored back. The
mirror lives here once: :func:`mirror_matrix` for pixels (also used by :mod:`handpose.geometry.crop`
for flipped crops), :data:`MIRROR_3D` for camera-frame points, :func:`mirror_intrinsics` for K and
:func:`opposite_side` for the hand side.

In the pixel convention of :mod:`handpose.geometry.camera` the mirror of an image W pixels wide
maps u to (W - 1) - u: pixel column c goes to column W - 1 - c.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from handpose.geometry.camera import apply_affine, compose_affines
from handpose.structures import HandSample, HandSide

#: Mirror of camera-frame points (x -> -x); the optical axis stays put.
MIRROR_3D = np.diag([-1.0, 1.0, 1.0])


def mirror_matrix(width: int) -> np.ndarray:
    """The 3x3 homogeneous pixel transform u -> (width - 1) - u, v -> v."""
    return np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def mirror_intrinsics(K: np.ndarray, width: int) -> np.ndarray:
    """K of the mirrored image, for points mirrored with :data:`MIRROR_3D`.

    ``project(X @ MIRROR_3D, K_new)`` is the mirror of ``project(X, K)``; the principal point
    moves to (width - 1) - cx and a skew term changes sign. Works on (..., 3, 3).
    """
    return mirror_matrix(width) @ np.asarray(K, dtype=np.float64) @ MIRROR_3D


def opposite_side(hand_side: HandSide | None) -> HandSide | None:
    """The side a hand appears to be after a mirror; None (unknown) stays None."""
    return {"left": "right", "right": "left", None: None}[hand_side]


def flip_sample(sample: HandSample) -> HandSample:
    """Mirror a sample horizontally: image, mask, depth, 2D and 3D keypoints, K, box and hand side.

    ``extras["flipped"]`` is toggled (so flipping twice restores False) and the mirror is composed
    into ``extras["crop_affine"]`` (original image -> this image) when the sample is a crop.
    """
    image = sample.load_image()
    width = image.shape[1]
    mirror = mirror_matrix(width)
    keypoints_2d = apply_affine(sample.keypoints_2d, mirror[:2])
    x0, y0, x1, y1 = np.asarray(sample.box, dtype=np.float64)
    extras = dict(sample.extras)
    extras["flipped"] = not bool(extras.get("flipped", False))
    if "crop_affine" in extras:
        extras["crop_affine"] = compose_affines(mirror[:2], extras["crop_affine"])
    mask, depth = sample.load_mask(), sample.load_depth()
    keypoints_3d = None if sample.keypoints_3d is None else np.asarray(sample.keypoints_3d, dtype=np.float64)
    return replace(
        sample,
        image=np.ascontiguousarray(image[:, ::-1]),
        keypoints_2d=keypoints_2d,
        box=np.array([width - 1.0 - x1, y0, width - 1.0 - x0, y1]),
        hand_side=opposite_side(sample.hand_side),
        keypoints_3d=None if keypoints_3d is None else keypoints_3d @ MIRROR_3D,
        K=None if sample.K is None else mirror_intrinsics(sample.K, width),
        mask=None if mask is None else np.ascontiguousarray(mask[:, ::-1]),
        depth=None if depth is None else np.ascontiguousarray(depth[:, ::-1]),
        extras=extras,
    )


def to_right_hand(sample: HandSample) -> HandSample:
    """The sample as a right hand: left hands are mirrored, right and unknown sides are returned as is."""
    return flip_sample(sample) if sample.hand_side == "left" else sample
