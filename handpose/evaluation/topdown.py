"""Top-down 2D prediction: crop each hand around its box, run the model, map keypoints back.

This is the standard protocol for comparing hand pose models on annotated data: the hand's box
is given (ground truth, or a detector's), so only the keypoint model is measured. Each crop is the
one the model was trained with (:func:`handpose.data.augment.evaluation_crop_box`: the box with
the model's padding, left hands mirrored for models trained on right hands), so evaluation sees
what validation saw during training. The crop's affine includes the mirror, so mapping keypoints
back through it also mirrors them back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from handpose.codecs import GaussianHeatmapCodec
from handpose.data.augment import evaluation_crop_box
from handpose.data.pipeline import normalize_image
from handpose.structures import HandSample
from handpose.geometry.crop import CropBox, crop_affine, crop_image, uncrop_keypoints

if TYPE_CHECKING:
    from handpose.train.checkpoint import PoseModelBundle


@dataclass(frozen=True)
class TopDownPredictions:
    """Keypoints of N hands in the pixels of their original images."""

    keypoints: np.ndarray  # (N, 21, 2) original image pixels
    scores: np.ndarray  # (N, 21) the decoder's confidence per joint
    crop_sizes: np.ndarray  # (N,) side of each crop in original image pixels


def predict_topdown(
    model: nn.Module,
    codec: GaussianHeatmapCodec,
    samples: Sequence[HandSample],
    input_size: int,
    padding: float,
    flip_to_right: bool,
    boxes: Sequence[CropBox] | None = None,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> TopDownPredictions:
    """Predict the 21 keypoints of each sample from a crop around its box.

    ``boxes`` replaces the crops of :func:`~handpose.data.augment.evaluation_crop_box` (built from
    ``padding`` and ``flip_to_right``), e.g. with a detector's boxes; one per sample. The model
    is put in eval mode; it must return ``{"heatmaps": (B, 21, h, w)}`` that ``codec`` decodes.
    """
    if not samples:
        raise ValueError("no samples to predict")
    if boxes is None:
        boxes = [evaluation_crop_box(sample, padding, flip_to_right) for sample in samples]
    if len(boxes) != len(samples):
        raise ValueError(f"got {len(boxes)} crop boxes for {len(samples)} samples; give one per sample")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    model.eval().to(device)
    affines = np.stack([crop_affine(box, input_size) for box in boxes])
    keypoints, scores = [], []
    starts = range(0, len(samples), batch_size)
    for start in tqdm(starts, desc="top-down prediction", unit="batch", disable=not progress):
        stop = min(start + batch_size, len(samples))
        crops = np.stack([crop_image(samples[i].load_image(), boxes[i], input_size) for i in range(start, stop)])
        with torch.no_grad():
            heatmaps = model(normalize_image(crops).to(device))["heatmaps"]
        crop_keypoints, crop_scores = codec.decode(heatmaps.float().cpu())
        keypoints.append(uncrop_keypoints(crop_keypoints, affines[start:stop]))
        scores.append(crop_scores)
    return TopDownPredictions(
        keypoints=np.concatenate(keypoints),
        scores=np.concatenate(scores),
        crop_sizes=np.array([box.size for box in boxes], dtype=np.float64),
    )


def predict_with_bundle(
    bundle: "PoseModelBundle",
    samples: Sequence[HandSample],
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> TopDownPredictions:
    """:func:`predict_topdown` with a loaded checkpoint, cropping as it was trained (``config.crop``)."""
    crop = bundle.config.crop
    return predict_topdown(
        bundle.model, bundle.codec, samples, bundle.input_size, crop.padding, crop.flip_to_right,
        batch_size=batch_size, device=device, progress=progress,
    )
