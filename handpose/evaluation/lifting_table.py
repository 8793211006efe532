"""Zimmermann & Brox's table for a score-map lifter: 3D from ground-truth against 3D from predicted
score maps.

Their Table (ICCV 2017, RHD) separates the lifting's own error from the 2D network's: PosePrior
and ViewPoint fed the ground-truth score maps, then fed the maps the 2D network predicts, each
scored by the AUC of the root-relative 3D error over 20-50 mm. Here both rows come from one pass
over the samples' evaluation crops (the box with the estimator's padding and flip, as validation
cuts them, through the estimator's own Dataset, so the ground-truth maps are exactly its training
targets), and both are reported by :func:`~handpose.evaluation.eval_3d.evaluate_3d_predictions`
against the samples' 3D in the image's camera frame: the headline is the scale-aligned AUC (a
single image cannot tell the hand's size), with every other figure of that report beside it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from handpose.codecs.target_codec import TargetCodec
from handpose.data.augment import AugmentConfig
from handpose.estimators.base import CropSpec
from handpose.evaluation.eval_3d import evaluate_3d_predictions
from handpose.metrics import format_report_table
from handpose.structures import HandPrediction, HandSample

#: The table's rows: the score maps the lifter is fed.
ROUTES = ("ground_truth", "predicted")
ROW_TITLES = {"ground_truth": "3D from ground-truth score maps", "predicted": "3D from predicted score maps"}


class ScoreMapLifter(Protocol):
    """What the table needs of an estimator (:class:`~handpose.estimators.lifting_3d.Lifting3DEstimator`
    is one): its crops and Dataset, ``forward`` on images (predicted maps), ``lift_ground_truth``
    on a batch (its target maps), and ``predict`` with root-relative ``keypoints_3d``."""

    crop: CropSpec
    targets: dict[str, TargetCodec]

    def training_dataset(self, samples: Sequence[HandSample], augment: AugmentConfig | None, seed: int) -> Dataset: ...

    def __call__(self, images: torch.Tensor) -> dict[str, Any]: ...

    def lift_ground_truth(self, batch: dict[str, Any]) -> dict[str, Any]: ...

    def predict(self, outputs: dict[str, Any], affines: np.ndarray, flipped: np.ndarray) -> list[HandPrediction]: ...

    def eval(self) -> Any: ...

    def parameters(self) -> Iterator[torch.nn.Parameter]: ...


def lifting_table(
    estimator: ScoreMapLifter, samples: Sequence[HandSample], batch_size: int = 32, progress: bool = False
) -> dict:
    """The table for the samples with 3D labels.

    Returns ``{"ground_truth": report, "predicted": report, "auc_20_50_mm": {route: AUC},
    "num_hands", "skipped_without_3d"}``: each report is
    :func:`~handpose.evaluation.eval_3d.evaluate_3d_predictions`'s, and ``auc_20_50_mm`` its
    ``summary["scale_aligned_auc_20_50_mm"]``. The estimator runs in eval mode on its own device.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    with_3d = [sample for sample in samples if sample.keypoints_3d is not None]
    if not with_3d:
        raise ValueError(f"none of the {len(samples)} samples has 3D keypoints to evaluate against")
    estimator.eval()
    device = next(estimator.parameters()).device
    loader = DataLoader(estimator.training_dataset(with_3d, None, seed=0), batch_size=batch_size)
    predictions: dict[str, list[HandPrediction]] = {route: [] for route in ROUTES}
    for batch in tqdm(loader, desc="lifting table", unit="batch", disable=not progress):
        batch = _to_device(batch, device)
        affines, flipped = batch["affine"].cpu().numpy(), batch["flipped"].cpu().numpy()
        with torch.no_grad():
            outputs = {"ground_truth": estimator.lift_ground_truth(batch), "predicted": estimator(batch["image"])}
        for route in ROUTES:
            predictions[route] += estimator.predict(outputs[route], affines, flipped)
    reports = {route: evaluate_3d_predictions(predictions[route], with_3d) for route in ROUTES}
    return {
        **reports,
        "auc_20_50_mm": {route: reports[route]["summary"]["scale_aligned_auc_20_50_mm"] for route in ROUTES},
        "num_hands": len(with_3d),
        "skipped_without_3d": len(samples) - len(with_3d),
    }


def format_lifting_table(table: dict) -> str:
    """The table as markdown: one row per route and alignment of the root-relative 3D, with the
    AUC ranges in the header (:func:`~handpose.metrics.format_report_table`)."""
    return format_report_table({ROW_TITLES[route]: table[route]["root_relative"] for route in ROUTES})


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {key: _to_device(value, device) for key, value in batch.items()}
    return batch
