"""PCK curves, their area (AUC) over an explicit threshold range, and PCK@alpha.

Threshold ranges are (low, high, steps) in the errors' unit. The conventional ones: 0-30 px for
2D (the figures MediaPipe is compared on), 20-50 mm for 3D (Zimmermann & Brox) and 0-50 mm.
"""

from __future__ import annotations

import numpy as np

from handpose.metrics.keypoint_errors import keypoint_errors

PckRange = tuple[float, float, int]

PCK_RANGE_2D_PX: PckRange = (0.0, 30.0, 20)
PCK_RANGE_3D_MM: PckRange = (20.0, 50.0, 20)
PCK_RANGE_3D_FULL_MM: PckRange = (0.0, 50.0, 20)


def pck_thresholds(low: float, high: float, steps: int = 20) -> np.ndarray:
    """``steps`` evenly spaced thresholds from ``low`` to ``high``, both included."""
    if not high > low or steps < 2:
        raise ValueError(f"a PCK range needs high > low and at least 2 steps, got ({low}, {high}, {steps})")
    return np.linspace(low, high, int(steps))


def pck_curve(errors: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(T,) share of labelled joints whose error is at most each threshold.

    ``errors`` come from :func:`~handpose.metrics.keypoint_errors.keypoint_errors`: NaN (not
    labelled) entries are left out, +inf (missing prediction) entries stay in as misses.
    """
    errors = np.asarray(errors, dtype=np.float64)
    counted = errors[~np.isnan(errors)]
    if counted.size == 0:
        raise ValueError("no labelled joints: a PCK curve needs at least one")
    thresholds = np.asarray(thresholds, dtype=np.float64)
    return (counted[None, :] <= thresholds[:, None]).mean(axis=1)


def area_under_curve(thresholds: np.ndarray, values: np.ndarray) -> float:
    """Area under a PCK curve divided by the threshold range, so in [0, 1].

    Trapezoidal rule over the given thresholds (as Zimmermann & Brox's evaluation does): with 20
    steps over 0-30 px the curve is sampled every 30/19 px and linearly interpolated between.
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if thresholds.shape != values.shape or thresholds.size < 2:
        raise ValueError(
            f"a PCK curve needs matching thresholds and values, at least 2; got {thresholds.shape}, {values.shape}"
        )
    return float(np.trapezoid(values, thresholds) / (thresholds[-1] - thresholds[0]))


def auc(errors: np.ndarray, low: float, high: float, steps: int = 20) -> float:
    """Normalised area under the PCK curve of ``errors`` over thresholds ``low``..``high``."""
    thresholds = pck_thresholds(low, high, steps)
    return area_under_curve(thresholds, pck_curve(errors, thresholds))


def reference_sizes(gt: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """(...,) longer side of the box around each image's labelled ground-truth keypoints (0 when
    fewer than two are labelled)."""
    gt = np.asarray(gt, dtype=np.float64)
    labelled = np.asarray(labelled).astype(bool)[..., None]
    lower = np.where(labelled, gt, np.inf).min(axis=-2)
    upper = np.where(labelled, gt, -np.inf).max(axis=-2)
    sides = np.where(labelled.any(axis=-2), upper - lower, 0.0)
    return sides.max(axis=-1)


def pck_at_alpha(pred: np.ndarray, gt: np.ndarray, labelled: np.ndarray, alpha: float = 0.2) -> float:
    """Share of labelled joints with error < ``alpha`` times the image's reference size
    (:func:`reference_sizes`); missing predictions count as wrong. Inputs are (N, K, D)."""
    errors = keypoint_errors(pred, gt, labelled)
    counted = ~np.isnan(errors)
    if not counted.any():
        raise ValueError("no labelled joints: PCK@alpha needs at least one")
    correct = errors < alpha * reference_sizes(gt, labelled)[..., None]
    return float(correct[counted].mean())
