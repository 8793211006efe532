"""Top-down 2D prediction on annotated data: crop each hand around its box, run the estimator,
map keypoints back.

This is the standard protocol for comparing hand pose models on annotated data: the hand's box
is given (ground truth, or a detector's), so only the keypoint model is measured. Each crop is the
one the estimator was trained with (:func:`handpose.data.augment.evaluation_crop_box`: the box with
its padding, left hands mirrored for estimators trained on right hands), so evaluation sees what
validation saw during training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from handpose.data.augment import evaluation_crop_box
from handpose.estimators import Estimator
from handpose.geometry.crop import CropBox
from handpose.inference.crops import estimate_in_boxes
from handpose.structures import HandPrediction, HandSample


@dataclass(frozen=True)
class TopDownPredictions:
    """Keypoints of N hands in the pixels of their original images."""

    keypoints: np.ndarray  # (N, 21, 2) original image pixels
    scores: np.ndarray  # (N, 21) the decoder's confidence per joint
    crop_sizes: np.ndarray  # (N,) side of each crop in original image pixels
    hands: list[HandPrediction]  # the N predictions themselves (3D where the estimator gives it)


def predict_topdown(
    estimator: Estimator,
    samples: Sequence[HandSample],
    boxes: Sequence[CropBox] | None = None,
    batch_size: int = 32,
    progress: bool = True,
    upright: bool = False,
) -> TopDownPredictions:
    """Predict the 21 keypoints of each sample from a crop around its box.

    ``boxes`` replaces the crops of :func:`~handpose.data.augment.evaluation_crop_box` (built from
    the estimator's padding and flip), e.g. with a detector's boxes; one per sample. ``upright``:
    each crop run again turned so that its first prediction stands upright
    (:func:`~handpose.inference.crops.estimate_in_boxes`); ``crop_sizes`` are unchanged by it.
    """
    if not samples:
        raise ValueError("no samples to predict")
    if boxes is None:
        crop = estimator.crop
        boxes = [evaluation_crop_box(sample, crop.padding, crop.flip_to_right) for sample in samples]
    if len(boxes) != len(samples):
        raise ValueError(f"got {len(boxes)} crop boxes for {len(samples)} samples; give one per sample")
    predictions = estimate_in_boxes(
        estimator, lambda i: samples[i].load_image(), boxes, finder="boxes", batch_size=batch_size, progress=progress,
        upright=upright,
    )
    return TopDownPredictions(
        keypoints=np.stack([p.keypoints for p in predictions]),
        scores=np.stack([p.keypoint_scores for p in predictions]),
        crop_sizes=np.array([box.size for box in boxes], dtype=np.float64),
        hands=predictions,
    )
