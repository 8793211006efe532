"""handpose: hand pose estimation from single RGB images.

``handpose.Predictor()(image)`` gives the hands in an image with the bundled weights
(:mod:`handpose.inference.predictor`); ``handpose.load_estimator`` loads any weights file or
training checkpoint. Both are imported on first use, so ``import handpose`` stays light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Predictor": "handpose.inference.predictor",
    "HandPrediction": "handpose.structures",
    "load_estimator": "handpose.inference.weights",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'handpose' has no attribute {name!r}")


__all__ = ["HandPrediction", "Predictor", "load_estimator", "__version__"]
