"""Aligning predictions to ground truth before measuring, as 3D hand benchmarks report it.

Each alignment asks a different question: "none" (MPJPE) whether the hand is in the right place;
"root" whether the pose is right relative to the wrist (monocular methods cannot know absolute
depth); "scale" whether it is right up to the hand's size (which a single image cannot fix);
"procrustes" (PA-MPJPE) whether the articulation is right whatever the global rotation, scale and
position. Alignments are fitted per image on the joints that are both labelled and predicted.
"""

from __future__ import annotations

import numpy as np

from handpose.metrics.keypoint_errors import keypoint_errors, validate_keypoint_inputs
from handpose.skeleton import ROOT

ALIGNMENTS: tuple[str, ...] = ("none", "root", "scale", "procrustes")


def root_relative(points: np.ndarray, root: int = ROOT) -> np.ndarray:
    """Points (..., K, D) minus their root joint (the wrist)."""
    points = np.asarray(points, dtype=np.float64)
    return points - points[..., root : root + 1, :]


def scale_align(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``pred`` (..., K, D) times the scale s minimising sum |s pred - gt|^2 over ``valid`` joints.

    Both are expected root-relative already; s = <pred, gt> / <pred, pred>, and 1 where undefined.
    """
    p, g = _zero_where_invalid(pred, gt, valid)
    numerator = (p * g).sum(axis=(-2, -1))
    denominator = (p * p).sum(axis=(-2, -1))
    scale = np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), 1.0)
    return np.asarray(pred, dtype=np.float64) * scale[..., None, None]


def procrustes_align(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``pred`` (..., K, D) under the similarity transform s R x + t that best fits ``gt`` on the
    ``valid`` joints (..., K) in the least-squares sense (Umeyama 1991).

    R is a proper rotation: a reflection would turn a left hand into a right one, which is an error
    to measure, not to align away. Where the valid joints have no spread (fewer than two of them),
    only the translation is fitted.
    """
    pred = np.asarray(pred, dtype=np.float64)
    p, g = _zero_where_invalid(pred, gt, valid)
    weights = np.asarray(valid, dtype=np.float64)[..., None]
    count = np.maximum(weights.sum(axis=-2), 1.0)
    mean_p = p.sum(axis=-2) / count
    mean_g = g.sum(axis=-2) / count
    centred_p = (p - mean_p[..., None, :]) * weights
    centred_g = (g - mean_g[..., None, :]) * weights
    covariance = np.einsum("...ki,...kj->...ij", centred_g, centred_p)
    u, singular, vt = np.linalg.svd(covariance)
    signs = np.ones_like(singular)
    signs[..., -1] = np.sign(np.linalg.det(u @ vt))
    rotation = u @ (signs[..., :, None] * vt)
    variance = (centred_p**2).sum(axis=(-2, -1))
    fits = variance > 0
    scale = np.where(fits, (singular * signs).sum(axis=-1) / np.where(fits, variance, 1.0), 1.0)
    identity = np.broadcast_to(np.eye(pred.shape[-1]), rotation.shape)
    rotation = np.where(fits[..., None, None], rotation, identity)
    translation = mean_g - scale[..., None] * np.einsum("...ij,...j->...i", rotation, mean_p)
    return scale[..., None, None] * np.einsum("...ij,...kj->...ki", rotation, pred) + translation[..., None, :]


def aligned_errors(
    pred: np.ndarray, gt: np.ndarray, labelled: np.ndarray, alignment: str = "none", root: int = ROOT
) -> np.ndarray:
    """:func:`~handpose.metrics.keypoint_errors.keypoint_errors` (..., K) after ``alignment``, one
    of :data:`ALIGNMENTS`.

    "root" and "scale" need the root: images whose root is not labelled are left out (NaN), and a
    missing predicted root makes every joint of the image a miss (+inf).
    """
    pred, gt, labelled = validate_keypoint_inputs(pred, gt, labelled)
    if alignment == "none":
        return keypoint_errors(pred, gt, labelled)
    if alignment == "procrustes":
        valid = labelled & np.isfinite(pred).all(axis=-1)
        return keypoint_errors(procrustes_align(pred, gt, valid), gt, labelled)
    if alignment in ("root", "scale"):
        labelled = labelled & labelled[..., root : root + 1]
        pred, gt = root_relative(pred, root), root_relative(np.where(labelled[..., None], gt, 0.0), root)
        if alignment == "scale":
            pred = scale_align(pred, gt, labelled & np.isfinite(pred).all(axis=-1))
        return keypoint_errors(pred, gt, labelled)
    raise ValueError(f"unknown alignment {alignment!r}; choose one of {', '.join(ALIGNMENTS)}")


def _zero_where_invalid(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Copies of pred and gt with invalid joints set to 0, so NaN cannot leak into the fit."""
    mask = np.asarray(valid).astype(bool)[..., None]
    return np.where(mask, pred, 0.0), np.where(mask, gt, 0.0)
