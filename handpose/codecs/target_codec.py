"""What a training target is to the Dataset: a codec that turns a crop's keypoints into arrays."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np


class TargetCodec(Protocol):
    """Keypoints (21, 2) in crop pixels and COCO visibility flags (21,) -> named float arrays,
    e.g. :class:`~handpose.codecs.GaussianHeatmapCodec`'s {"heatmaps", "weights"}."""

    def encode(self, keypoints: np.ndarray, visibility: np.ndarray) -> Mapping[str, np.ndarray]: ...
