"""Per-joint errors that keep "not labelled" (left out) apart from "not predicted" (a miss)."""

from __future__ import annotations

import numpy as np


def keypoint_errors(pred: np.ndarray, gt: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """Euclidean error (..., K) between predictions and ground truth (..., K, D), 2D px or 3D mm.

    ``labelled`` (..., K) is bool (or visibility flags, 0 meaning not labelled). The result is NaN
    where the joint is not labelled, so that every statistic leaves it out, and +inf where it is
    labelled but the prediction is missing (a NaN or infinite coordinate; give an image without
    any detection as all NaN): it stays in as a miss that fails every threshold, so a model cannot
    improve its score by not answering.
    """
    pred, gt, labelled = validate_keypoint_inputs(pred, gt, labelled)
    distances = np.linalg.norm(np.where(np.isfinite(pred), pred, 0.0) - np.where(np.isfinite(gt), gt, 0.0), axis=-1)
    predicted = np.isfinite(pred).all(axis=-1)
    return np.where(labelled, np.where(predicted, distances, np.inf), np.nan)


def scored(errors: np.ndarray) -> np.ndarray:
    """Bool mask of the errors that count towards means: labelled and predicted (finite)."""
    return np.isfinite(errors)


def mean_error(errors: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Mean over labelled joints that were predicted (missing ones are counted apart, see
    :func:`count_missing`); NaN where there are none."""
    errors = np.asarray(errors, dtype=np.float64)
    mask = scored(errors)
    total = np.where(mask, errors, 0.0).sum(axis=axis)
    count = mask.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return float(mean) if axis is None else mean


def count_missing(errors: np.ndarray, axis: int | None = None) -> np.ndarray | int:
    """Number of labelled joints without a prediction (the +inf entries)."""
    missing = np.isposinf(np.asarray(errors)).sum(axis=axis)
    return int(missing) if axis is None else missing


def validate_keypoint_inputs(
    pred: np.ndarray, gt: np.ndarray, labelled: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The inputs as float64 arrays and a bool mask; raise ValueError on mismatched shapes or on
    labelled ground truth that is not finite (a data error, never a model's miss)."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    labelled = np.asarray(labelled).astype(bool)
    if pred.shape != gt.shape or gt.ndim < 2 or gt.shape[:-1] != labelled.shape:
        raise ValueError(
            f"pred and gt must be (..., K, D) and labelled (..., K); got {pred.shape}, {gt.shape} and {labelled.shape}"
        )
    if not np.isfinite(gt[labelled]).all():
        raise ValueError("ground truth has NaN or infinite coordinates on labelled joints")
    return pred, gt, labelled
