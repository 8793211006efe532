"""Pinhole projection with intrinsics K.

Pixel convention, used everywhere in handpose: continuous coordinates in which the centre of the
top-left pixel is (0, 0) (OpenCV's convention), x to the right, y down; the camera looks along +z.
"""

from __future__ import annotations

import numpy as np


def project(points_3d: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Project camera-frame points (..., 3) with intrinsics K (3, 3) or (..., 3, 3) to pixels (..., 2)."""
    points_3d = np.asarray(points_3d, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    homogeneous = np.einsum("...ij,...nj->...ni", K, points_3d) if K.ndim > 2 else points_3d @ K.T
    return homogeneous[..., :2] / homogeneous[..., 2:3]


def backproject(points_2d: np.ndarray, depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Lift pixels (..., 2) at camera-frame depths z (...) back to camera-frame points (..., 3)."""
    points_2d = np.asarray(points_2d, dtype=np.float64)
    depth = np.asarray(depth, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    ones = np.ones(points_2d.shape[:-1] + (1,))
    homogeneous = np.concatenate([points_2d, ones], axis=-1)
    K_inv = np.linalg.inv(K)
    rays = np.einsum("...ij,...nj->...ni", K_inv, homogeneous) if K.ndim > 2 else homogeneous @ K_inv.T
    return rays * depth[..., None]


def intrinsics(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """K from focal lengths and principal point (pixels)."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def apply_affine(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Map pixels (..., N, 2) through a 2x3 affine (2, 3) or a batch of them (..., 2, 3)."""
    points = np.asarray(points, dtype=np.float64)
    affine = np.asarray(affine, dtype=np.float64)
    linear, shift = affine[..., :2], affine[..., 2]
    return np.einsum("...ij,...nj->...ni", linear, points) + shift[..., None, :]


def invert_affine(affine: np.ndarray) -> np.ndarray:
    """The inverse of a 2x3 affine, batched over leading dimensions."""
    affine = np.asarray(affine, dtype=np.float64)
    linear_inv = np.linalg.inv(affine[..., :2])
    shift = -np.einsum("...ij,...j->...i", linear_inv, affine[..., 2])
    return np.concatenate([linear_inv, shift[..., None]], axis=-1)


def compose_affines(second: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The 2x3 affine that applies ``first``, then ``second``, batched over leading dimensions."""
    second = np.asarray(second, dtype=np.float64)
    first = np.asarray(first, dtype=np.float64)
    linear = second[..., :2] @ first[..., :2]
    shift = np.einsum("...ij,...j->...i", second[..., :2], first[..., 2]) + second[..., 2]
    return np.concatenate([linear, shift[..., None]], axis=-1)
