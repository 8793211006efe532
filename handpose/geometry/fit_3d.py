"""3D hand keypoints from 2D: the camera-frame placement of a 3D hand shape, intrinsics for photos
without calibration, a mean hand, and bone-direction helpers.

A single image fixes a hand's 3D pose only up to its size: a hand twice as large twice as far
away projects to the same pixels. So the absolute 3D here takes a root-relative 3D shape (from a
network, or the mean hand), scales it to a known or assumed hand size and finds where it sits in
the camera frame: the translation (root position, so root depth) -- and optionally the rotation,
for a shape whose orientation is not known, such as the mean hand -- that make its perspective
projection fit the 2D keypoints in the weighted least-squares sense (:func:`fit_camera_frame`).

The hand size is the length from the wrist to the middle finger's MCP, the hand's most rigid
distance (the middle metacarpal barely moves against the wrist, whatever the fingers do);
:func:`mean_hand_size` is its mean over the synthetic generator's hands, whose proportions follow
adult anthropometry for a mean hand 185 mm long from the wrist to the middle fingertip (phalanges
after Buryanov & Kotiuk, the palm after hand surveys; :mod:`handpose.synth.hand_shape`).

Pixels and K follow :mod:`handpose.geometry.camera`; 3D is in mm; keypoints in the canonical
order of :mod:`handpose.skeleton`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from handpose.geometry.camera import intrinsics, project
from handpose.skeleton import BONES, FINGERS, NUM_JOINTS, ROOT, bone_vectors

#: The hand-size bone: wrist (the root) to the middle finger's MCP.
SIZE_BONE: tuple[int, int] = (ROOT, FINGERS["middle"][0])

#: Hands of the synthetic generator averaged into the mean hand, and the seed that draws them: at
#: this count every joint of the mean lies within 0.25 mm of the mean of 20000 hands (0.3 s, once).
MEAN_HAND_SAMPLES = 2000
MEAN_HAND_SEED = 0

#: Gauss-Newton stops once a step moves the hand by less than this (mm).
_CONVERGED_MM = 1e-9


def intrinsics_from_focal(width: int, height: int, focal_px: float) -> np.ndarray:
    """K of an ideal camera: square pixels, focal length ``focal_px`` in pixels, principal point
    at the image centre, which is ((width - 1) / 2, (height - 1) / 2) in handpose's pixel convention."""
    if not (width > 0 and height > 0 and math.isfinite(focal_px) and focal_px > 0):
        raise ValueError(f"need a positive image size and focal length, got {width}x{height} and {focal_px}")
    return intrinsics(focal_px, focal_px, (width - 1) / 2.0, (height - 1) / 2.0)


def intrinsics_from_fov(width: int, height: int, fov_degrees: float) -> np.ndarray:
    """K of an ideal camera whose horizontal field of view, edge to edge of the ``width`` pixels,
    is ``fov_degrees`` (a photo without calibration: a webcam is about 60-70 degrees)."""
    if not 0 < fov_degrees < 180:
        raise ValueError(f"fov_degrees must lie strictly between 0 and 180, got {fov_degrees}")
    return intrinsics_from_focal(width, height, (width / 2.0) / math.tan(math.radians(fov_degrees) / 2.0))


def mean_right_hand() -> np.ndarray:
    """(21, 3) mm: the mean of the synthetic generator's right hands, fingers straight (all joint
    angles 0), root-relative, in the generator's hand frame (x towards the thumb, y from the wrist
    towards the middle finger, z out of the palm; :mod:`handpose.synth.kinematics`)."""
    return _mean_right_hand().copy()


def mean_bone_lengths() -> np.ndarray:
    """(20,) mm: the bone lengths of :func:`mean_right_hand`, in the order of :data:`handpose.skeleton.BONES`."""
    return np.linalg.norm(bone_vectors(_mean_right_hand()), axis=-1)


def mean_hand_size() -> float:
    """The wrist to middle-finger MCP length of :func:`mean_right_hand`, mm (about 87 mm)."""
    return hand_size(_mean_right_hand())


def hand_size(keypoints_3d: np.ndarray) -> np.ndarray | float:
    """The length of the :data:`SIZE_BONE` of keypoints (..., 21, 3), in their unit."""
    keypoints_3d = np.asarray(keypoints_3d, dtype=np.float64)
    size = np.linalg.norm(keypoints_3d[..., SIZE_BONE[1], :] - keypoints_3d[..., SIZE_BONE[0], :], axis=-1)
    return float(size) if size.ndim == 0 else size


@lru_cache(maxsize=1)
def _mean_right_hand() -> np.ndarray:
    # Imported here: the generator sits above geometry (it projects with handpose.geometry), and
    # only this one function needs it.
    from handpose.synth.hand_shape import sample_hand_shape
    from handpose.synth.kinematics import forward_kinematics

    rng = np.random.default_rng(MEAN_HAND_SEED)
    straight = np.zeros((5, 4))
    hands = [forward_kinematics(sample_hand_shape(rng).chains, straight).joints for _ in range(MEAN_HAND_SAMPLES)]
    mean = np.mean(hands, axis=0)
    mean.setflags(write=False)
    return mean


def bone_directions(keypoints_3d: np.ndarray) -> np.ndarray:
    """Unit vectors (..., 20, 3) from parent to child of each bone of :data:`handpose.skeleton.BONES`;
    NaN for a bone of length 0, which has no direction."""
    vectors = bone_vectors(np.asarray(keypoints_3d, dtype=np.float64))
    lengths = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, lengths, out=np.full_like(vectors, np.nan), where=lengths > 0)


def keypoints_from_bone_directions(
    directions: np.ndarray, bone_lengths: np.ndarray, root: np.ndarray | None = None
) -> np.ndarray:
    """Keypoints (..., 21, 3) from bone directions (..., 20, 3), bone lengths (..., 20) and the
    root's position (..., 3; the origin by default), walking the skeleton from the wrist out.

    The inverse of :func:`bone_directions` with :func:`handpose.skeleton.bone_lengths`.
    Directions are normalised here, so a network's raw vectors may be passed as they are (a zero
    vector has no direction: its joint and those beyond it come out NaN).
    """
    directions = np.asarray(directions, dtype=np.float64)
    if directions.shape[-2:] != (len(BONES), 3):
        raise ValueError(f"directions must have shape (..., {len(BONES)}, 3), got {directions.shape}")
    units = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
    steps = units * np.asarray(bone_lengths, dtype=np.float64)[..., None]
    batch = steps.shape[:-2]
    keypoints = np.zeros(batch + (NUM_JOINTS, 3))
    keypoints[..., ROOT, :] = 0.0 if root is None else np.asarray(root, dtype=np.float64)
    for bone, (parent, child) in enumerate(BONES):  # parents precede their children in BONES
        keypoints[..., child, :] = keypoints[..., parent, :] + steps[..., bone, :]
    return keypoints


@dataclass(frozen=True)
class CameraFit:
    """A hand shape placed in the camera frame: ``keypoints_3d = shape @ rotation.T + translation``
    with ``shape`` root-relative and scaled to the hand size, so ``translation`` is the root's
    camera-frame position (its z the root depth). ``rms_px`` is the root-mean-square reprojection
    error over the weighted keypoints (weights normalised to mean 1)."""

    keypoints_3d: np.ndarray  # (21, 3) mm, camera frame
    rotation: np.ndarray  # (3, 3), the identity unless fitted
    translation: np.ndarray  # (3,) mm
    rms_px: float


def fit_camera_frame(
    keypoints_2d: np.ndarray,
    shape_3d: np.ndarray,
    K: np.ndarray,
    weights: np.ndarray | None = None,
    size_mm: float | None = None,
    fit_rotation: bool = False,
    iterations: int = 10,
) -> CameraFit:
    """Place the 3D hand ``shape_3d`` (21, 3) in the camera frame so that it projects with ``K``
    onto ``keypoints_2d`` (21, 2, pixels), minimising sum_i w_i |project(X_i) - u_i|^2.

    ``shape_3d`` is made root-relative and, when ``size_mm`` is given, scaled so that its wrist to
    middle-MCP bone is ``size_mm`` (the known size of this hand, or :func:`mean_hand_size`);
    without ``size_mm`` its own scale is kept, which must then be mm. ``weights`` (21,) are per-joint
    confidences, 0 for joints to leave out (default: all 1); at least 3 must be positive.

    Without ``fit_rotation`` the shape keeps its orientation (the camera frame's, as a network
    predicts it) and only the translation is found: first in closed form, from the linear system
    that says each point lies on its pixel's ray (exact for exact 2D, and unlike a weak-perspective
    scale it allows for the hand's extent in depth), then refined by Gauss-Newton steps on the
    reprojection error. With ``fit_rotation`` (a shape of unknown orientation, e.g. the mean hand,
    best weighted to the palm joints -- wrist, thumb CMC and MCPs -- which move little with the
    fingers) rotation and translation start from OpenCV's SQPnP solution and are refined the same way.

    Raises ValueError when the fit would put the hand behind the camera (2D keypoints that no
    placement of this shape explains).
    """
    keypoints_2d = np.asarray(keypoints_2d, dtype=np.float64)
    shape = np.asarray(shape_3d, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    if keypoints_2d.shape != (NUM_JOINTS, 2) or shape.shape != (NUM_JOINTS, 3) or K.shape != (3, 3):
        raise ValueError(
            "need keypoints_2d (21, 2), shape_3d (21, 3) and K (3, 3); "
            f"got {keypoints_2d.shape}, {shape.shape} and {K.shape}"
        )
    w = np.ones(NUM_JOINTS) if weights is None else np.asarray(weights, dtype=np.float64)
    usable = (w > 0) & np.isfinite(keypoints_2d).all(axis=-1) & np.isfinite(shape).all(axis=-1)
    if w.shape != (NUM_JOINTS,) or not np.isfinite(w[usable]).all() or usable.sum() < 3:
        raise ValueError("need (21,) finite non-negative weights with at least 3 positive on finite keypoints")
    if not np.isfinite(shape[ROOT]).all():
        raise ValueError("shape_3d has no finite root (wrist) to place")
    w = np.where(usable, w, 0.0) / w[usable].mean()
    shape = shape - shape[ROOT]
    if size_mm is not None:
        own_size = hand_size(shape)
        if not (np.isfinite(own_size) and own_size > 0 and size_mm > 0):
            raise ValueError(f"cannot scale a shape of size {own_size} mm to {size_mm} mm")
        shape = shape * (float(size_mm) / own_size)
    u, X = keypoints_2d[usable], shape[usable]
    w = w[usable]

    if fit_rotation:
        found, rotation_vector, translation = cv2.solvePnP(X, u, K, None, flags=cv2.SOLVEPNP_SQPNP)
        if not found:
            raise ValueError("no camera pose explains the 2D keypoints (SQPnP failed)")
        rotation, translation = cv2.Rodrigues(rotation_vector)[0], translation.ravel()
    else:
        rotation, translation = np.eye(3), _translation_on_rays(u, X, K, w)

    cost = _cost(u, X, rotation, translation, K, w)
    for _ in range(iterations):
        step = _gauss_newton_step(u, X, rotation, translation, K, w, fit_rotation)
        scale = 1.0
        while scale > 1e-3:  # backtrack until the step lowers the cost
            candidate = _apply_step(rotation, translation, scale * step)
            candidate_cost = _cost(u, X, *candidate, K, w)
            if candidate_cost <= cost:
                break
            scale /= 2.0
        else:
            break
        moved = np.abs(X @ (candidate[0] - rotation).T + (candidate[1] - translation)).max()
        (rotation, translation), cost = candidate, candidate_cost
        if moved < _CONVERGED_MM:
            break

    keypoints = shape @ rotation.T + translation
    return CameraFit(keypoints, rotation, translation, float(np.sqrt(cost / len(u))))


def _translation_on_rays(u: np.ndarray, X: np.ndarray, K: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The t for which each X_i + t lies on the ray of pixel u_i, in the weighted least-squares
    sense: with the ray direction (a, b, 1) = K^-1 (u, 1), (X + t)_x = a (X + t)_z and likewise for y."""
    rays = np.concatenate([u, np.ones((len(u), 1))], axis=1) @ np.linalg.inv(K).T
    a, b = rays[:, 0], rays[:, 1]
    ones, zeros = np.ones_like(a), np.zeros_like(a)
    system = np.concatenate([np.stack([ones, zeros, -a], axis=1), np.stack([zeros, ones, -b], axis=1)])
    target = np.concatenate([a * X[:, 2] - X[:, 0], b * X[:, 2] - X[:, 1]])
    root_w = np.sqrt(np.concatenate([w, w]))
    translation = np.linalg.lstsq(system * root_w[:, None], target * root_w, rcond=None)[0]
    _require_in_front(X + translation)
    return translation


def _cost(
    u: np.ndarray, X: np.ndarray, rotation: np.ndarray, translation: np.ndarray, K: np.ndarray, w: np.ndarray
) -> float:
    points = X @ rotation.T + translation
    if (points[:, 2] <= 0).any():
        return math.inf
    return float((w * ((project(points, K) - u) ** 2).sum(axis=-1)).sum())


def _gauss_newton_step(
    u: np.ndarray,
    X: np.ndarray,
    rotation: np.ndarray,
    translation: np.ndarray,
    K: np.ndarray,
    w: np.ndarray,
    fit_rotation: bool,
) -> np.ndarray:
    """The Gauss-Newton step (dt, or d_omega then dt) of the weighted reprojection error; a
    rotation step turns the hand about the root by the rotation vector d_omega."""
    rotated = X @ rotation.T
    points = rotated + translation
    _require_in_front(points)
    pixels = project(points, K)
    # d pixel / d point: (K[:2] - pixel e_z^T) / z, for K whose last row is (0, 0, 1).
    jacobian = (K[None, :2, :] - pixels[:, :, None] * np.array([0.0, 0.0, 1.0])) / points[:, 2, None, None]
    if fit_rotation:  # d point / d omega = -[rotated]_x
        cross = np.zeros((len(X), 3, 3))
        cross[:, 0, 1], cross[:, 0, 2], cross[:, 1, 2] = -rotated[:, 2], rotated[:, 1], -rotated[:, 0]
        cross -= np.swapaxes(cross, 1, 2)
        jacobian = np.concatenate([jacobian @ -cross, jacobian], axis=2)
    rows = (jacobian * np.sqrt(w)[:, None, None]).reshape(-1, jacobian.shape[2])
    residuals = ((pixels - u) * np.sqrt(w)[:, None]).reshape(-1)
    return -np.linalg.lstsq(rows, residuals, rcond=None)[0]


def _apply_step(rotation: np.ndarray, translation: np.ndarray, step: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(step) == 3:
        return rotation, translation + step
    return cv2.Rodrigues(step[:3])[0] @ rotation, translation + step[3:]


def _require_in_front(points: np.ndarray) -> None:
    if not (np.isfinite(points).all() and (points[:, 2] > 0).all()):
        raise ValueError("the fitted hand lies (partly) behind the camera: the 2D keypoints do not fit this 3D shape")
