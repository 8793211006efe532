"""Estimators: a network with its targets, loss and decoding, one file each (see :mod:`.base`)."""

from __future__ import annotations

from typing import Any

from handpose.estimators.base import CropSpec, Estimator
from handpose.estimators.hand_detector import HandDetector
from handpose.estimators.hand_segnet import HandSegNet
from handpose.estimators.heatmap_2d import HeatmapEstimator
from handpose.estimators.heatmap_bones_3d import HeatmapBones3DEstimator
from handpose.estimators.heatmap_depth_25d import HeatmapDepth25DEstimator
from handpose.estimators.lifting_3d import Lifting3DEstimator
from handpose.estimators.nsrm import NSRMEstimator

#: Estimator name -> class; a weights file's ``estimator`` is one of these names.
ESTIMATORS: dict[str, type[Estimator]] = {
    cls.name: cls
    for cls in (
        HeatmapEstimator, NSRMEstimator, HeatmapBones3DEstimator, HeatmapDepth25DEstimator, Lifting3DEstimator,
        HandDetector, HandSegNet,
    )
}


def build_estimator(name: str, **kwargs: Any) -> Estimator:
    """The estimator called ``name``, built from its keyword arguments (e.g. a weights file's)."""
    try:
        estimator_class = ESTIMATORS[name]
    except KeyError:
        raise ValueError(f"estimator.name: unknown estimator {name!r}; choose one of {', '.join(ESTIMATORS)}") from None
    return estimator_class(**kwargs)


__all__ = ["CropSpec", "ESTIMATORS", "Estimator", "HandDetector", "HeatmapEstimator", "NSRMEstimator", "build_estimator"]
