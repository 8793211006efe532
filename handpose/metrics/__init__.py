"""Keypoint metrics: 2D/3D errors, PCK curves and AUC, PCK@alpha, reports."""
