"""Evaluation reports: every figure a comparison needs, JSON-serialisable, and a table of several.

A report states its units and threshold ranges next to each figure, so that numbers from
different runs (or from MMPose and MediaPipe) are only compared on the same terms. Means and
medians are over the labelled joints that were predicted; missing predictions are counted apart
and fail every PCK threshold. Values that do not exist (no predicted joint) are None.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from handpose.metrics.alignment import ALIGNMENTS, aligned_errors
from handpose.metrics.keypoint_errors import count_missing, keypoint_errors, mean_error, scored
from handpose.metrics.mirroring import mirrored_hands
from handpose.metrics.pck import (
    PCK_RANGE_2D_PX,
    PCK_RANGE_3D_FULL_MM,
    PCK_RANGE_3D_MM,
    PckRange,
    area_under_curve,
    pck_at_alpha,
    pck_curve,
    pck_thresholds,
)
from handpose.skeleton import JOINT_NAMES, NUM_JOINTS

#: Column names of the alignments in tables.
_ALIGNMENT_TITLES = {"none": "MPJPE", "root": "root-relative", "scale": "scale-aligned", "procrustes": "PA-MPJPE"}


def evaluate_2d(
    pred: np.ndarray,
    gt: np.ndarray,
    labelled: np.ndarray,
    pck_range: PckRange = PCK_RANGE_2D_PX,
    alpha: float = 0.2,
) -> dict:
    """Report on 2D predictions (N, 21, 2) against ground truth in pixels.

    Keys: dimension, unit, num_images, missing_images (images with none of their labelled joints
    predicted), num_joints, missing_joints, epe_mean, epe_median, pck (a list with one entry: low,
    high, steps, unit, auc, thresholds, values), pck_at_alpha (alpha, normaliser, value),
    per_keypoint_epe (by joint name), per_image_epe (list of N), mirrored_hands (hands whose thumb
    and little-finger sides are swapped: :func:`handpose.metrics.mirroring.mirrored_hands`).
    """
    errors = _errors_of_hands(pred, gt, labelled, dimension=2)
    return {
        "dimension": 2,
        "unit": "px",
        **_image_counts(errors),
        **_error_summary(errors, [pck_range], "px"),
        "pck_at_alpha": {
            "alpha": float(alpha),
            "normaliser": "longer side of the box around the image's labelled ground-truth keypoints",
            "value": pck_at_alpha(pred, gt, labelled, alpha),
        },
        "mirrored_hands": mirrored_hands(pred, gt, labelled),
    }


def evaluate_3d(
    pred: np.ndarray,
    gt: np.ndarray,
    labelled: np.ndarray,
    pck_ranges: Sequence[PckRange] = (PCK_RANGE_3D_MM, PCK_RANGE_3D_FULL_MM),
) -> dict:
    """Report on 3D predictions (N, 21, 3) against ground truth in mm, under every alignment.

    Keys: dimension, unit, num_images, missing_images, and alignments: for each of "none" (MPJPE),
    "root", "scale" and "procrustes" (PA-MPJPE) the keys of :func:`evaluate_2d` from num_joints to
    per_image_epe, with one pck entry per range.
    """
    errors = _errors_of_hands(pred, gt, labelled, dimension=3)
    return {
        "dimension": 3,
        "unit": "mm",
        **_image_counts(errors),
        "alignments": {
            alignment: _error_summary(aligned_errors(pred, gt, labelled, alignment), pck_ranges, "mm")
            for alignment in ALIGNMENTS
        },
    }


def format_report_table(reports: dict[str, dict]) -> str:
    """A markdown (and plain-text readable) table comparing models, one row per model, or per
    model and alignment for 3D. Threshold ranges go in the header, so all reports must share them."""
    if not reports:
        raise ValueError("no reports to compare")
    first = next(iter(reports.values()))
    if any(_comparable_terms(report) != _comparable_terms(first) for report in reports.values()):
        raise ValueError("reports differ in dimension, alpha or PCK ranges; compare like with like")
    unit = first["unit"]
    auc_titles = [_auc_title(entry) for entry in _summaries(first)[0]["pck"]]
    if first["dimension"] == 2:
        header = ["model", "images", "missing joints", f"EPE mean ({unit})", f"EPE median ({unit})"]
        header += [f"PCK@{first['pck_at_alpha']['alpha']:g}"] + auc_titles + ["mirrored hands"]
        rows = [
            [name, str(r["num_images"]), str(r["missing_joints"]), _number(r["epe_mean"], 2)]
            + [_number(r["epe_median"], 2), _number(r["pck_at_alpha"]["value"], 3)]
            + [_number(entry["auc"], 3) for entry in r["pck"]]
            + [_number(r["mirrored_hands"]["fraction"], 3)]
            for name, r in reports.items()
        ]
    else:
        header = ["model", "alignment", "missing joints", f"mean ({unit})", f"median ({unit})"] + auc_titles
        rows = [
            [name, _ALIGNMENT_TITLES[alignment], str(s["missing_joints"]), _number(s["epe_mean"], 2)]
            + [_number(s["epe_median"], 2)]
            + [_number(entry["auc"], 3) for entry in s["pck"]]
            for name, r in reports.items()
            for alignment, s in r["alignments"].items()
        ]
    return _markdown_table(header, rows)


def _errors_of_hands(pred: np.ndarray, gt: np.ndarray, labelled: np.ndarray, dimension: int) -> np.ndarray:
    """Unaligned errors (N, 21) after checking the hands' shape and that something is labelled."""
    shape = np.shape(gt)
    if len(shape) != 3 or shape[1:] != (NUM_JOINTS, dimension):
        raise ValueError(f"expected hands of shape (N, {NUM_JOINTS}, {dimension}), got {shape}")
    errors = keypoint_errors(pred, gt, labelled)
    if np.isnan(errors).all():
        raise ValueError("no labelled joints to evaluate")
    return errors


def _image_counts(errors: np.ndarray) -> dict:
    labelled = ~np.isnan(errors)
    nothing_predicted = labelled.any(axis=1) & ~(scored(errors).any(axis=1))
    return {"num_images": int(errors.shape[0]), "missing_images": int(nothing_predicted.sum())}


def _error_summary(errors: np.ndarray, pck_ranges: Sequence[PckRange], unit: str) -> dict:
    """Counts, mean and median error, PCK curves with their AUC, and per-joint/per-image means."""
    predicted = errors[scored(errors)]
    pck = []
    for low, high, steps in pck_ranges:
        thresholds = pck_thresholds(low, high, steps)
        values = pck_curve(errors, thresholds)
        pck.append(
            {
                "low": float(low),
                "high": float(high),
                "steps": int(steps),
                "unit": unit,
                "auc": area_under_curve(thresholds, values),
                "thresholds": thresholds.tolist(),
                "values": values.tolist(),
            }
        )
    return {
        "num_joints": int((~np.isnan(errors)).sum()),
        "missing_joints": count_missing(errors),
        "epe_mean": _json_number(mean_error(errors)),
        "epe_median": _json_number(np.median(predicted)) if predicted.size else None,
        "pck": pck,
        "per_keypoint_epe": {name: _json_number(v) for name, v in zip(JOINT_NAMES, mean_error(errors, axis=0))},
        "per_image_epe": [_json_number(v) for v in mean_error(errors, axis=1)],
    }


def _json_number(value: float) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _summaries(report: dict) -> list[dict]:
    """The error summaries of a report: itself in 2D, one per alignment in 3D."""
    return list(report["alignments"].values()) if report["dimension"] == 3 else [report]


def _comparable_terms(report: dict) -> tuple:
    ranges = tuple((e["low"], e["high"], e["steps"], e["unit"]) for e in _summaries(report)[0]["pck"])
    alpha = report["pck_at_alpha"]["alpha"] if report["dimension"] == 2 else None
    return report["dimension"], alpha, ranges


def _auc_title(entry: dict) -> str:
    return f"AUC {entry['low']:g}-{entry['high']:g} {entry['unit']} ({entry['steps']} steps)"


def _number(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """Columns padded to a common width; numbers right-aligned, text left-aligned."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    numeric = [i > 0 and all(_looks_numeric(row[i]) for row in rows) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2)) for w, num in zip(widths, numeric)) + "|"
    return "\n".join([line(header), rule] + [line(row) for row in rows])


def _looks_numeric(cell: str) -> bool:
    return cell == "n/a" or cell.replace(".", "", 1).isdigit()
