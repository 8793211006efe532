"""Keypoint metrics: 2D/3D errors, PCK curves and AUC, PCK@alpha, reports."""

from handpose.metrics.alignment import ALIGNMENTS, aligned_errors, procrustes_align, root_relative, scale_align
from handpose.metrics.keypoint_errors import count_missing, keypoint_errors, mean_error, scored
from handpose.metrics.pck import (
    PCK_RANGE_2D_PX,
    PCK_RANGE_3D_FULL_MM,
    PCK_RANGE_3D_MM,
    area_under_curve,
    auc,
    pck_at_alpha,
    pck_curve,
    pck_thresholds,
    reference_sizes,
)
from handpose.metrics.report import evaluate_2d, evaluate_3d, format_report_table

__all__ = [
    "ALIGNMENTS",
    "PCK_RANGE_2D_PX",
    "PCK_RANGE_3D_FULL_MM",
    "PCK_RANGE_3D_MM",
    "aligned_errors",
    "area_under_curve",
    "auc",
    "count_missing",
    "evaluate_2d",
    "evaluate_3d",
    "format_report_table",
    "keypoint_errors",
    "mean_error",
    "pck_at_alpha",
    "pck_curve",
    "pck_thresholds",
    "procrustes_align",
    "reference_sizes",
    "root_relative",
    "scale_align",
    "scored",
]
