"""The estimator: a network together with its targets, its loss and its decoding.

As a head owns its loss and prediction in MMPose, an :class:`Estimator` is everything that is
particular to one kind of model, so that the training loop, the Dataset, evaluation and inference
need no branch for any of them:

- :attr:`Estimator.targets` names the targets it learns from, each a codec whose ``encode``
  turns a crop's keypoints into arrays; the Dataset encodes every declared target generically
  into ``batch["targets"][name]``. :meth:`Estimator.training_dataset` builds that Dataset; an
  estimator that learns from something other than hand crops (a detector, from whole images)
  builds its own.
- :meth:`Estimator.loss` computes its own loss terms from its outputs and the batch.
- :meth:`Estimator.decode` turns outputs into keypoints in crop pixels, and
  :meth:`Estimator.predict` maps them back through the crops into
  :class:`~handpose.structures.HandPrediction`\\ s.

An estimator is built from plain keyword arguments (:attr:`Estimator.kwargs`: dicts, lists,
numbers, strings), so a weights file that records its name, those arguments and its state dict
rebuilds it with nothing else (:mod:`handpose.inference.weights`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from handpose.codecs.image_normalization import IMAGE_MEAN, IMAGE_STD, normalize_image
from handpose.codecs.target_codec import TargetCodec
from handpose.geometry.crop import uncrop_keypoints, uncrop_points_3d
from handpose.metrics import auc, keypoint_errors, mean_error
from handpose.structures import HandPrediction, HandSample, HandSide

if TYPE_CHECKING:
    from handpose.data.augment import AugmentConfig


@dataclass(frozen=True)
class CropSpec:
    """How an estimator's input crops are cut: the same in training, evaluation and inference.

    ``padding`` is the crop side over the hand box's longer side; with ``flip_to_right`` left
    hands are mirrored, so the network only ever sees right hands.
    """

    input_size: int
    padding: float = 1.5
    flip_to_right: bool = True
    mean: tuple[float, float, float] = IMAGE_MEAN
    std: tuple[float, float, float] = IMAGE_STD

    def __post_init__(self) -> None:
        if self.input_size <= 0 or not self.padding > 0:
            raise ValueError(f"input_size and padding must be positive, got {self.input_size} and {self.padding}")

    def normalize(self, crops: np.ndarray | torch.Tensor) -> torch.Tensor:
        """RGB uint8 crops (B, S, S, 3) -> the float tensor (B, 3, S, S) the network takes."""
        return normalize_image(crops, self.mean, self.std)


#: Thresholds the validation AUC integrates over (see :func:`handpose.metrics.auc`).
AUC_STEPS = 20


class Estimator(nn.Module):
    """Base class of every estimator; see the module docstring.

    Subclasses set :attr:`name` (their key in :data:`handpose.estimators.ESTIMATORS`), call
    ``super().__init__(crop, kwargs)`` with the keyword arguments they were built with, and
    implement :meth:`forward`, :meth:`loss` and :meth:`decode`.
    """

    name: ClassVar[str]

    def __init__(self, crop: CropSpec, kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.crop = crop
        self.kwargs = kwargs
        #: How far the Predictor spreads this network's 2D keypoints about their mean on real
        #: photos: the weights' calibration (:func:`handpose.inference.weights.keypoint_spread_of`),
        #: 1.0 (none) where they have none.
        self.keypoint_spread = 1.0

    @property
    def targets(self) -> dict[str, TargetCodec]:
        """Target name -> codec; the Dataset puts ``codec.encode(...)`` in ``batch["targets"][name]``."""
        raise NotImplementedError

    def training_dataset(self, samples: Sequence[HandSample], augment: AugmentConfig | None, seed: int) -> Dataset:
        """The Dataset of one data source for training (random crops drawn from ``seed`` with
        ``augment``) or validation (``augment`` None: the fixed crops of evaluation).

        By default one crop per hand, cut as :attr:`crop` says, with every target of
        :attr:`targets` (:class:`~handpose.data.pipeline.HandPoseDataset`).
        """
        from handpose.data.pipeline import HandPoseDataset  # the data pipeline is for training, not inference

        crop = self.crop
        return HandPoseDataset(
            samples, self.targets, crop.input_size, augment=augment, padding=crop.padding,
            flip_to_right=crop.flip_to_right, seed=seed,
        )

    @property
    def reads_side(self) -> bool:
        """Whether each prediction's ``hand_score`` says how sure the network is of the side the
        prediction names (a side head), so that the Predictor may choose between a crop and its
        mirror by it; False by default, where ``hand_score`` is the mean keypoint score."""
        return False

    def start_new_weights(self, missing: list[str]) -> None:
        """After ``init_from`` loaded weights that lack the ``missing`` ones (a new head on a
        trained network): start those from the loaded ones where that is the better start. By
        default they keep their initialisation."""

    def forward(self, images: torch.Tensor) -> dict[str, Any]:
        raise NotImplementedError

    def loss(self, outputs: dict[str, Any], batch: dict[str, Any], epoch: int) -> dict[str, torch.Tensor]:
        """``{"loss": the total to optimise, ...further terms to log}`` for one batch."""
        raise NotImplementedError

    def validation_loss(self, outputs: dict[str, Any], batch: dict[str, Any]) -> torch.Tensor:
        """The loss that validation reports and early stopping watches: comparable across epochs.

        By default the training total; an estimator whose total has a scheduled term leaves that
        term out here.
        """
        return self.loss(outputs, batch, epoch=0)["loss"]

    def decode(self, outputs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (B, 21, 2) in crop pixels and per-joint scores (B, 21)."""
        raise NotImplementedError

    def decode_3d(self, outputs: dict[str, Any]) -> np.ndarray | None:
        """Root-relative 3D keypoints (B, 21, 3) in mm in each crop's camera frame, for estimators
        that predict 3D; None (the default) for 2D ones."""
        return None

    def validation_records(self, outputs: dict[str, Any], batch: dict[str, Any]) -> np.ndarray:
        """One fixed-width row per item of a validation batch, gathered over the epoch (and over
        processes) for :meth:`validation_metrics`. By default each labelled keypoint's error in
        crop pixels (NaN where unlabelled)."""
        keypoints, _ = self.decode(outputs)
        labelled = batch["visibility"].cpu().numpy() > 0
        return keypoint_errors(keypoints, batch["keypoints"].cpu().numpy(), labelled)

    def validation_metrics(self, records: np.ndarray, auc_range_px: tuple[float, float]) -> dict[str, float]:
        """The epoch's validation figures from all its records: by default ``epe_px`` (mean
        keypoint error, crop pixels) and ``auc`` (PCK AUC over ``auc_range_px``)."""
        low, high = auc_range_px
        return {"epe_px": mean_error(records), "auc": auc(records, low, high, AUC_STEPS)}

    def predict(
        self,
        outputs: dict[str, Any],
        affines: np.ndarray,
        flipped: np.ndarray,
        finder: str = "",
        hand_scores: np.ndarray | None = None,
    ) -> list[HandPrediction]:
        """Decode ``outputs`` and map each hand back through its crop into image pixels.

        ``affines`` (B, 2, 3) map image pixels to crop pixels (:func:`~handpose.geometry.crop_affine`;
        a mirroring crop's affine mirrors back). ``flipped`` (B,) says which crops mirror the
        image: a network that only sees right hands then found a hand that appears as a left one.
        3D from :meth:`decode_3d` is turned back into the image's camera frame the same way.
        """
        keypoints, scores = self.decode(outputs)
        image_keypoints = uncrop_keypoints(keypoints, np.asarray(affines, dtype=np.float64))
        crop_3d = self.decode_3d(outputs)
        image_3d = None if crop_3d is None else uncrop_points_3d(crop_3d, np.asarray(affines, dtype=np.float64))
        predictions = []
        for i in range(len(keypoints)):
            side: HandSide | None = None
            if self.crop.flip_to_right:
                side = "left" if bool(flipped[i]) else "right"
            predictions.append(
                HandPrediction(
                    box=_keypoint_extent(image_keypoints[i]),
                    keypoints=image_keypoints[i],
                    keypoint_scores=np.asarray(scores[i], dtype=np.float64),
                    hand_side=side,
                    hand_score=float(np.mean(scores[i]) if hand_scores is None else hand_scores[i]),
                    keypoints_3d=None if image_3d is None else image_3d[i],
                    finder=finder,
                )
            )
        return predictions

    def spec(self) -> dict[str, Any]:
        """What rebuilds this estimator: ``{"name": ..., "kwargs": ...}``."""
        return {"name": self.name, "kwargs": self.kwargs}


def _keypoint_extent(keypoints: np.ndarray) -> np.ndarray:
    """The x0, y0, x1, y1 box around predicted keypoints."""
    return np.concatenate([keypoints.min(axis=0), keypoints.max(axis=0)]).astype(np.float64)
