"""3D keypoints from 2D keypoints and relative depths (the 2.5D representation, Iqbal et al. 2018).

A network's 3D hand shape is right in its articulation and less so in its global rotation (on the
synthetic test split the bone-direction network's Procrustes-aligned AUC is 0.91, its
scale-aligned one 0.70), while its 2D keypoints are the most accurate thing it predicts. So the
3D here takes only the *depths* of the shape, relative to the wrist, and puts every joint on the
ray of its 2D keypoint: joint j lies at depth ``Z_root + dz_j`` on the ray ``K^-1 (u_j, 1)``. The
one unknown left, the root depth ``Z_root``, is the one for which the hand's bones have the
lengths of the shape (at the assumed hand size): a scalar least-squares problem, solved by
Gauss-Newton from the weak-perspective estimate. In-plane pose and projection then come from the
2D, and the shape's rotation matters only through its depths.

Exact 2D keypoints and exact depths give back the exact camera-frame 3D, root depth included.
Without a calibrated camera, an assumed field of view serves: on the synthetic test split the
root-relative result hardly changes between 30 and 75 degrees (docs/results.md).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from handpose.geometry.camera import backproject
from handpose.geometry.fit_3d import hand_size
from handpose.skeleton import NUM_JOINTS, ROOT, bone_vectors
from handpose.structures import HandPrediction

#: The horizontal field of view assumed for a photo without a known camera (a webcam's is about
#: 60-70 degrees); the root-relative 3D hardly depends on it (module docstring).
ASSUMED_FOV_DEGREES = 60.0

#: Gauss-Newton steps for the root depth; it converges in a few (the cost is nearly quadratic).
ROOT_DEPTH_ITERATIONS = 20


def lift_25d(
    keypoints_2d: np.ndarray, relative_depths: np.ndarray, K: np.ndarray, bone_lengths: np.ndarray
) -> np.ndarray:
    """Camera-frame 3D keypoints (..., 21, 3) in mm from 2D keypoints (..., 21, 2) in pixels,
    depths relative to the wrist (..., 21) in mm, intrinsics K (..., 3, 3) and the 20 bone lengths
    (..., 20) in mm that fix the root depth (module docstring).

    A hand whose lift puts a joint behind the camera (depths deeper than its root is far, which
    the 2D keypoints cannot have come from) comes out all NaN: there is no 3D of this kind for it.
    Raises ValueError for inputs that are not finite, or 2D keypoints that all coincide (no bone
    has an image length to fix the depth by).
    """
    keypoints_2d = np.asarray(keypoints_2d, dtype=np.float64)
    depths = np.asarray(relative_depths, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    lengths = np.asarray(bone_lengths, dtype=np.float64)
    if keypoints_2d.shape[-2:] != (NUM_JOINTS, 2) or depths.shape[-1:] != (NUM_JOINTS,) or K.shape[-2:] != (3, 3):
        raise ValueError(
            f"need keypoints_2d (..., 21, 2), relative_depths (..., 21) and K (..., 3, 3); "
            f"got {keypoints_2d.shape}, {depths.shape} and {K.shape}"
        )
    if not all(np.isfinite(array).all() for array in (keypoints_2d, depths, K, lengths)):
        raise ValueError("keypoints_2d, relative_depths, K and bone_lengths must all be finite")
    depths = depths - depths[..., ROOT : ROOT + 1]
    rays = backproject(keypoints_2d, np.ones(keypoints_2d.shape[:-1]), K)  # (..., 21, 3), z = 1
    # Bone b at root depth Z: Z * across[b] + along[b], whose length should be lengths[b].
    across = bone_vectors(rays)
    along = bone_vectors(depths[..., None] * rays)
    lengths = np.broadcast_to(lengths, across.shape[:-1])
    spread = (across**2).sum(axis=(-2, -1))
    if not (spread > 0).all():
        raise ValueError("the 2D keypoints all coincide: no bone has an image length to fix the root depth by")
    # Weak-perspective start: the depth at which the image bones, taken flat, have their lengths.
    root_depth = (lengths * np.linalg.norm(across, axis=-1)).sum(axis=-1) / spread
    for _ in range(ROOT_DEPTH_ITERATIONS):
        bones = root_depth[..., None, None] * across + along
        norms = np.maximum(np.linalg.norm(bones, axis=-1), 1e-12)
        slopes = (bones * across).sum(axis=-1) / norms
        root_depth = root_depth - (slopes * (norms - lengths)).sum(axis=-1) / np.maximum((slopes**2).sum(axis=-1), 1e-12)
    keypoints_3d = rays * (root_depth[..., None] + depths)[..., None]
    behind = ~(keypoints_3d[..., 2] > 0).all(axis=-1)
    return np.where(behind[..., None, None], np.nan, keypoints_3d)


def anchor_to_2d(
    keypoints_2d: np.ndarray, shape_3d: np.ndarray, K: np.ndarray, size_mm: float | None = None
) -> np.ndarray:
    """Camera-frame 3D (..., 21, 3), mm: a predicted 3D hand ``shape_3d`` (..., 21, 3; in the camera
    frame's orientation, any origin) re-anchored on its 2D keypoints by :func:`lift_25d`, keeping
    the shape's depths relative to the wrist and its bone lengths, scaled to ``size_mm`` (the
    wrist to middle-MCP length) where given, else as they are (mm)."""
    shape = np.asarray(shape_3d, dtype=np.float64)
    if shape.shape[-2:] != (NUM_JOINTS, 3):
        raise ValueError(f"shape_3d must have shape (..., 21, 3), got {shape.shape}")
    if size_mm is not None:
        own = np.asarray(hand_size(shape))
        if not (np.isfinite(own).all() and (own > 0).all() and size_mm > 0):
            raise ValueError(f"cannot scale a shape of size {own} mm to {size_mm} mm")
        shape = shape * (float(size_mm) / own)[..., None, None]
    lengths = np.linalg.norm(bone_vectors(shape), axis=-1)
    return lift_25d(keypoints_2d, shape[..., 2], K, lengths)


def anchor_prediction(hand: HandPrediction, K: np.ndarray, size_mm: float | None = None) -> HandPrediction:
    """``hand`` with its root-relative ``keypoints_3d`` re-anchored on its 2D keypoints
    (:func:`anchor_to_2d`, then made root-relative again); unchanged where it has no 3D or where
    no lift in front of the camera exists, so the network's own shape is kept there."""
    if hand.keypoints_3d is None:
        return hand
    lifted = anchor_to_2d(hand.keypoints, hand.keypoints_3d, K, size_mm)
    if not np.isfinite(lifted).all():
        return hand
    return replace(hand, keypoints_3d=lifted - lifted[ROOT])
