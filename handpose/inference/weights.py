"""Weights files: a trained estimator in one small, self-describing file, and loading it back.

A weights file is a ``torch.save`` of plain data, read with ``weights_only=True``::

    {"format": "handpose-weights", "format_version": 1,
     "estimator": {"name": "heatmap_2d", "kwargs": {...}},     # rebuilds the network, codec, crop
     "input": {"input_size": 128, "padding": 1.5, "flip_to_right": True, "mean": [...], "std": [...]},
     "state_dict": {...},                                        # floating tensors in fp16
     "metadata": {...}}                                          # where it came from (free-form)

One metadata entry is read back: ``keypoint_spread`` (``{"factor": F, ...}``), the factor the
Predictor spreads the network's 2D keypoints by on real photos (:func:`keypoint_spread_of`).

:func:`load_estimator` needs torch and :mod:`handpose.estimators`, not Lightning nor the
experiment config, so inference runs without the training package. It also reads a training
checkpoint (``.ckpt``) directly: the training module stores the estimator's spec in it
(:data:`ESTIMATOR_SPEC_KEY`). Weights are stored in fp16 (half the size; the keypoints they give
differ from fp32's by far less than a pixel, which the tests check) and loaded into fp32.

Bundled weights live in ``handpose/weights/`` and are loaded by name (:data:`BUNDLED_WEIGHTS`).
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from handpose.estimators import Estimator, build_estimator
from handpose.image_io import open_atomic

WEIGHTS_FORMAT = "handpose-weights"
WEIGHTS_FORMAT_VERSION = 1

#: Where a training checkpoint keeps its estimator's spec, ``{"name": ..., "kwargs": ...}``.
ESTIMATOR_SPEC_KEY = "handpose_estimator"
#: Where the Lightning module keeps the estimator inside a checkpoint's state dict.
CHECKPOINT_PREFIX = "estimator."

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
#: Names :func:`load_estimator` accepts for the weights shipped with the package.
BUNDLED_WEIGHTS = {
    "default": WEIGHTS_DIR / "hand_default.pt",  # 2D keypoints and 3D bone directions
    "detector": WEIGHTS_DIR / "hand_detector.pt",
    "handsegnet": WEIGHTS_DIR / "handsegnet.pt",
    "hand_stage": WEIGHTS_DIR / "hand_stage.pt",  # handpose wholebody's: small hands of whole people
}


class WeightsError(ValueError):
    """A weights file or checkpoint that cannot be used; the message names the file and why."""


def load_estimator(name_or_path: str | Path, device: str | torch.device = "cpu") -> Estimator:
    """The estimator in a bundled weights name ("default"), a weights file or a training
    checkpoint, weights loaded, in eval mode."""
    path = resolve_weights(name_or_path)
    content = _read(path)
    if content.get("format") == WEIGHTS_FORMAT:
        version = content.get("format_version")
        if version != WEIGHTS_FORMAT_VERSION:
            raise WeightsError(f"{path}: weights format version {version!r}; this handpose reads {WEIGHTS_FORMAT_VERSION}")
        spec, state, prefix = content.get("estimator"), content.get("state_dict"), ""
    elif ESTIMATOR_SPEC_KEY in content:
        spec, state, prefix = content[ESTIMATOR_SPEC_KEY], content.get("state_dict"), CHECKPOINT_PREFIX
    else:
        raise WeightsError(f"{path}: not a handpose weights file or training checkpoint")
    if not isinstance(spec, dict) or not isinstance(state, dict):
        raise WeightsError(f"{path}: the estimator spec or the state dict is missing")
    try:
        estimator = build_estimator(spec["name"], **spec["kwargs"])
    except (KeyError, TypeError, ValueError) as error:
        raise WeightsError(f"{path}: cannot rebuild its estimator ({error})") from None
    weights = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
    try:
        estimator.load_state_dict({key: value.float() if value.is_floating_point() else value for key, value in weights.items()})
    except RuntimeError as error:  # missing, unexpected or differently shaped weights
        raise WeightsError(f"{path}: its weights do not fit its estimator ({str(error).splitlines()[0]})") from None
    try:
        estimator.keypoint_spread = keypoint_spread_of(content.get("metadata") or {})
    except (TypeError, ValueError) as error:
        raise WeightsError(f"{path}: its metadata's keypoint_spread is not a factor ({error})") from None
    return estimator.eval().to(device)


def keypoint_spread_of(metadata: dict[str, Any]) -> float:
    """The real-photo keypoint spread a weights file's ``metadata`` records (``keypoint_spread``:
    ``{"factor": F, "chosen_on": ...}``), 1.0 where it records none; calibrated for the bundled
    ``default`` on real frames (docs/results.md, "Real hands come out small")."""
    record = metadata.get("keypoint_spread")
    return checked_spread(record["factor"]) if isinstance(record, dict) and "factor" in record else 1.0


def checked_spread(factor: float) -> float:
    """``factor`` as a keypoint spread; a ValueError unless it is a finite factor above 0 (the
    Predictor's ``keypoint_spread`` and a weights file's record alike)."""
    factor = float(factor)
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"keypoint_spread must be a positive factor, got {factor}")
    return factor


def with_keypoint_spread(metadata: dict[str, Any] | None, spread: float) -> dict[str, Any]:
    """``metadata`` with a ``keypoint_spread`` record of factor ``spread`` where that is not 1.0 or
    a record is there already (whose other keys stay): what a weights or ONNX file of a network
    with that spread records."""
    metadata = dict(metadata or {})
    if spread != 1.0 or "keypoint_spread" in metadata:
        metadata["keypoint_spread"] = {**dict(metadata.get("keypoint_spread") or {}), "factor": spread}
    return metadata


def resolve_weights(name_or_path: str | Path) -> Path:
    """The file of a bundled weights name (unless a file of that name exists), or ``name_or_path``."""
    path = Path(name_or_path)
    if str(name_or_path) in BUNDLED_WEIGHTS and not path.exists():
        return BUNDLED_WEIGHTS[str(name_or_path)]
    return path


def save_weights(estimator: Estimator, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``estimator`` as a weights file (atomically); returns the path. Its
    :attr:`~handpose.estimators.Estimator.keypoint_spread` goes into the metadata's
    ``keypoint_spread`` record (other keys of a given record, e.g. where it was chosen, are kept),
    so that an adapted or re-headed network keeps its calibration; a network exported from a
    training checkpoint has none (1.0) until it is calibrated."""
    metadata = with_keypoint_spread(metadata, estimator.keypoint_spread)
    state = {
        key: value.detach().cpu().half() if value.is_floating_point() else value.detach().cpu()
        for key, value in estimator.state_dict().items()
    }
    crop = asdict(estimator.crop)
    content = {
        "format": WEIGHTS_FORMAT,
        "format_version": WEIGHTS_FORMAT_VERSION,
        "estimator": estimator.spec(),
        "input": {key: list(value) if isinstance(value, tuple) else value for key, value in crop.items()},
        "state_dict": state,
        "metadata": metadata,
    }
    path = Path(path)
    with open_atomic(path, durable=True) as f:
        torch.save(content, f)
    return path


def read_metadata(name_or_path: str | Path) -> dict[str, Any]:
    """The ``metadata`` of a weights file ({} for a checkpoint)."""
    return dict(_read(resolve_weights(name_or_path)).get("metadata") or {})


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise WeightsError(f"{path}: weights file is missing")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load on arbitrary bytes fails in many ways, each just "unreadable"
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise WeightsError(f"{path}: not a readable weights file or checkpoint ({reason})") from None
    if not isinstance(content, dict):
        raise WeightsError(f"{path}: not a handpose weights file or training checkpoint")
    return content
