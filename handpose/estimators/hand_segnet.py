"""HandSegNet (Zimmermann & Brox, ICCV 2017): the hand masks of a whole image, and the hands they show.

The first stage of Zimmermann & Brox's pipeline: a network segments the whole image into
background and hand, and the hand's crop follows the mask: its largest connected component, the
square around it enlarged. Here the masks also tell left from right, as RHD's do (a codec option,
``masks.sides``; without it, hand against background as in the paper), so one image gives up to
one hand of each side.

- Network: :class:`~handpose.models.hand_segnet.HandSegNetwork`, a small dense encoder-decoder with
  logits per cell at its output stride.
- Targets: each image's mask in the network's input, as the share of each class per output cell
  (:class:`~handpose.codecs.hand_masks.HandMaskCodec`), from the Dataset of whole images with
  their masks (:class:`~handpose.data.segmentation_pipeline.HandSegmentationDataset`).
- Loss: cross-entropy against those shares, class-balanced per batch: class c weighs
  ``frequency_c ** -class_balance`` (normalised so that a balance of 0 is the plain mean
  cross-entropy, and 1 the mean over the classes present of each class's mean cross-entropy).
  Hands cover a tenth of a typical picture and each side half that, so plain cross-entropy learns
  background first; full balance over-grows hands at their edges; the default 0.5 is between.
- Validation (:meth:`HandSegNet.validation_metrics`): mask IoU per class, of the whole hand
  (either side) and their mean, pooled over the validation images, at input resolution.
- Inference: :meth:`HandSegNet.segment` gives each image's class probabilities and masks in its
  own pixels; :meth:`HandSegNet.find_hands` and :meth:`HandSegNet.detect` the hands
  (:func:`largest_components`), as :class:`SegmentedHand`\\ s: the hand detector's
  :class:`~handpose.estimators.hand_detector.HandBox` with the component's mask, so that
  ``Predictor(detector=segnet)`` (and ``handpose predict --detector SEGNET_WEIGHTS``) runs the pose
  estimator on them unchanged, its predictions with ``finder`` "segmentation" and their ``mask``.

The box of a hand is the bounds of its component; the crop the pose estimator sees is the square
around it enlarged by the estimator's own padding (the Predictor's ``box_around(box, padding)``,
1.5 by default), the crop that estimator was trained on, where the paper enlarges by 1.25.

Keyword arguments, each a section of an experiment config: ``network`` ({"name": "hand_segnet",
**HandSegNet's kwargs but ``input_size`` and ``classes``, which follow from ``codec.input_size``
and ``masks.sides``}), ``codec`` (its ``input_size`` is the network's input side;
``heatmap_size`` may only repeat input / stride), ``masks`` (:data:`MASKS_DEFAULTS`), ``hands``
(:data:`HANDS_DEFAULTS`) and ``training`` (:data:`TRAINING_DEFAULTS`). The other keys of the
``codec``, ``crop`` and ``loss`` sections of pose estimators do not apply and must keep their
defaults; ``crop.flip_to_right`` must be false (the network sees both sides).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from handpose.codecs.hand_masks import (
    BACKGROUND,
    LEFT,
    RIGHT,
    HandMaskCodec,
    class_names,
    iou_counts,
    iou_figures,
)
from handpose.codecs.target_codec import TargetCodec
from handpose.data.detection_pipeline import warp_to_input, whole_image_box
from handpose.data.segmentation_pipeline import HandSegmentationDataset
from handpose.estimators.base import CropSpec, Estimator
from handpose.estimators.hand_detector import HandBox
from handpose.estimators.heatmap_2d import CODEC_DEFAULTS, CROP_DEFAULTS, LOSS_DEFAULTS, _section, require_defaults
from handpose.models.hand_segnet import HandSegNetwork
from handpose.structures import HandPrediction, HandSample, HandSide

if TYPE_CHECKING:
    from handpose.data.augment import AugmentConfig

NETWORK_NAME = "hand_segnet"
#: The ``finder`` of the predictions made in this estimator's boxes.
FINDER = "segmentation"

#: ``sides``: background, left and right hand (else background and hand).
MASKS_DEFAULTS: dict[str, Any] = {"sides": True}
#: ``min_area``: the smallest component that is a hand, as a fraction of the image's area
#: (5e-4: 33 pixels of a 256 x 256 image, a hand of about 6 x 6 pixels).
HANDS_DEFAULTS: dict[str, Any] = {"min_area": 5e-4}
#: The Dataset's mirroring probability and the loss's class balance (see the module docstring).
TRAINING_DEFAULTS: dict[str, Any] = {"flip_probability": 0.5, "class_balance": 0.5}


class Segmentation(NamedTuple):
    """One image's segmentation in its own pixels: ``probabilities`` (C, H, W) float32 of the
    codec's classes (background first), ``masks`` {"left", "right"} or {"hand"}: (H, W) bool,
    the most probable class."""

    probabilities: np.ndarray
    masks: dict[str, np.ndarray]


@dataclass(frozen=True)
class SegmentedHand(HandBox):
    """A hand found by segmentation: the detector's box, score (the mean hand probability over its
    pixels), side (None without sides) and side score (the side's share of the two sides'
    probabilities over its pixels; 0.5 without sides), and ``mask`` (H, W) bool, its pixels."""

    side: HandSide | None  # type: ignore[assignment]
    mask: np.ndarray = field(repr=False, compare=False)

    def with_pose(self, prediction: HandPrediction) -> HandPrediction:
        """As :meth:`HandBox.with_pose`, with ``finder`` "segmentation" and this hand's mask."""
        return replace(super().with_pose(prediction), finder=FINDER, mask=self.mask)


class HandSegNet(Estimator):
    """Class logits per cell on a small dense encoder-decoder (see the module docstring)."""

    name = "hand_segnet"

    def __init__(
        self,
        network: dict[str, Any],
        codec: dict[str, Any] | None = None,
        crop: dict[str, Any] | None = None,
        loss: dict[str, Any] | None = None,
        masks: dict[str, Any] | None = None,
        hands: dict[str, Any] | None = None,
        training: dict[str, Any] | None = None,
    ) -> None:
        codec_settings = _section("codec", CODEC_DEFAULTS, codec)
        crop_settings = _section("crop", {**CROP_DEFAULTS, "flip_to_right": False}, crop)
        loss_settings = _section("loss", LOSS_DEFAULTS, loss)
        self.masks = _section("estimator.masks", MASKS_DEFAULTS, masks)
        self.hands = _section("estimator.hands", HANDS_DEFAULTS, hands)
        self.training_options = _section("estimator.training", TRAINING_DEFAULTS, training)
        if crop_settings["flip_to_right"]:
            raise ValueError(
                "crop.flip_to_right: must be false (and augment.flip_to_right too): the network sees both sides"
            )
        instead = "see estimator.masks, estimator.hands and estimator.training"
        for section, settings, defaults, used in (
            ("codec", codec_settings, CODEC_DEFAULTS, ("input_size", "heatmap_size")),
            ("crop", crop_settings, CROP_DEFAULTS, ("flip_to_right",)),
            ("loss", loss_settings, LOSS_DEFAULTS, ()),
        ):
            require_defaults(section, settings, defaults, used, "HandSegNet", instead)
        if not 0 <= self.training_options["class_balance"] <= 1:
            raise ValueError(
                f"estimator.training.class_balance: must lie in [0, 1], got {self.training_options['class_balance']}"
            )
        if not 0 <= self.hands["min_area"] < 1:
            raise ValueError(f"estimator.hands.min_area: must lie in [0, 1), got {self.hands['min_area']}")
        input_size = int(codec_settings["input_size"])
        super().__init__(
            CropSpec(input_size, float(crop_settings["padding"]), flip_to_right=False),
            {"network": dict(network), "codec": codec_settings, "crop": crop_settings, "loss": loss_settings,
             "masks": self.masks, "hands": self.hands, "training": self.training_options},
        )
        options = dict(network)
        if options.pop("name", None) != NETWORK_NAME:
            raise ValueError(f"model.name: HandSegNet's network is {NETWORK_NAME!r}")
        for key, source in (("input_size", "codec.input_size"), ("classes", "estimator.masks.sides")):
            if key in options:
                raise ValueError(f"model.{key}: it follows from {source}; leave it out")
        classes = len(class_names(bool(self.masks["sides"])))
        try:
            self.network = HandSegNetwork(**options, classes=classes, input_size=input_size).to(
                memory_format=torch.channels_last
            )
        except (TypeError, ValueError) as error:
            raise ValueError(f"model: {error}") from None
        stride = self.network.stride
        if codec_settings["heatmap_size"] not in (None, input_size // stride):
            raise ValueError(
                f"codec.heatmap_size {codec_settings['heatmap_size']} is not input {input_size} / stride {stride}"
            )
        self.codec = HandMaskCodec(input_size, stride, bool(self.masks["sides"]))

    @property
    def targets(self) -> dict[str, TargetCodec]:
        """None from keypoints: the masks are encoded by the estimator's own Dataset
        (:meth:`training_dataset`) as ``batch["targets"]["masks"]``."""
        return {}

    def training_dataset(self, samples: Sequence[HandSample], augment: AugmentConfig | None, seed: int) -> Dataset:
        """Whole images with their masks (:class:`~handpose.data.segmentation_pipeline.HandSegmentationDataset`)."""
        return HandSegmentationDataset(
            samples, self.codec, augment, seed, flip_probability=float(self.training_options["flip_probability"])
        )

    def forward(self, images: torch.Tensor) -> dict[str, Any]:
        return self.network(images)

    def loss(self, outputs: dict[str, Any], batch: dict[str, Any], epoch: int) -> dict[str, torch.Tensor]:
        """Class-balanced cross-entropy against the class shares (see the module docstring)."""
        shares = batch["targets"]["masks"]["fractions"]
        log_probabilities = F.log_softmax(outputs["logits"].float(), dim=1)
        per_class = -(shares * log_probabilities).sum(dim=(0, 2, 3))  # each class's summed cross-entropy
        cells = shares.numel() / shares.shape[1]
        frequency = shares.sum(dim=(0, 2, 3)) / cells
        weights = torch.where(frequency > 0, frequency.clamp(min=1e-12) ** -self.training_options["class_balance"], 0.0)
        weights = weights / (weights * frequency).sum()
        return {"loss": (weights * per_class).sum() / cells}

    def validation_records(self, outputs: dict[str, Any], batch: dict[str, Any]) -> np.ndarray:
        """Per image, the intersection and union pixel counts of each of
        :func:`~handpose.codecs.hand_masks.iou_names`, in input pixels (K x 2 values)."""
        predicted = self.codec.probabilities(outputs["logits"].detach()).argmax(dim=1).cpu().numpy()
        truth = batch["labels"].cpu().numpy()
        sides = self.codec.sides
        return np.stack([
            iou_counts(p, self.codec.class_labels(t), sides).ravel() for p, t in zip(predicted, truth)
        ]).astype(np.float64)

    def validation_metrics(self, records: np.ndarray, auc_range_px: tuple[float, float]) -> dict[str, float]:
        """``iou_<class>``, ``iou_hand`` (either side) and ``miou`` (the classes' mean), pooled over
        the images; ``auc_range_px`` concerns keypoints only."""
        return iou_figures(records, self.codec.sides)

    def segment(self, images: Sequence[np.ndarray], batch_size: int = 8) -> list[Segmentation]:
        """Each RGB uint8 image (any size) letterboxed into the input, segmented, and its class
        probabilities and masks brought back to its own pixels."""
        self.eval()
        device = next(self.parameters()).device
        size = self.crop.input_size
        found: list[Segmentation] = []
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size]
            warped = [warp_to_input(image, whole_image_box(image.shape[1], image.shape[0]), size) for image in chunk]
            with torch.no_grad():
                logits = self(self.crop.normalize(np.stack([w[0] for w in warped])).to(device))["logits"]
            probabilities = self.codec.probabilities(logits).cpu().numpy()
            for image, (_, affine), inside in zip(chunk, warped, probabilities):
                full = self.codec.to_image(inside, affine, image.shape[1], image.shape[0])
                found.append(Segmentation(full, self.codec.masks(self.codec.labels(full))))
        return found

    def detect(self, images: Sequence[np.ndarray], batch_size: int = 8) -> list[list[SegmentedHand]]:
        """The hands in each RGB uint8 image, best first, in that image's pixels (what
        :class:`~handpose.inference.predictor.Predictor` asks of a detector)."""
        return [
            largest_components(found.probabilities, self.codec.sides, float(self.hands["min_area"]))
            for found in self.segment(images, batch_size)
        ]

    def find_hands(self, image: np.ndarray) -> list[SegmentedHand]:
        """The hands in one RGB uint8 image: :meth:`detect` of that image alone."""
        return self.detect([image])[0]


def largest_components(probabilities: np.ndarray, sides: bool, min_area: float = 0.0) -> list[SegmentedHand]:
    """Hands from one image's class probabilities (C, H, W), best score first.

    The hand pixels (most probable class not background) fall into connected components
    (8-connected); a component's side is the side with the larger summed probability over its
    pixels. Of the components of at least ``min_area`` times the image's area, the largest of
    each side is a hand (without sides, the largest of all), as in the paper, which keeps the
    largest component of its hand mask: specks and other skin elsewhere are dropped.
    """
    labels = np.argmax(probabilities, axis=0)
    hand = (labels != BACKGROUND).astype(np.uint8)
    count, components, stats, _ = cv2.connectedComponentsWithStats(hand, connectivity=8)
    flat = components.ravel()
    sums = np.stack([np.bincount(flat, weights=p.ravel(), minlength=count) for p in probabilities])  # (C, count)
    areas = stats[:, cv2.CC_STAT_AREA]
    height, width = labels.shape
    chosen: dict[HandSide | None, int] = {}
    for k in range(1, count):
        if areas[k] < min_area * height * width:
            continue
        side: HandSide | None = None
        if sides:
            side = "left" if sums[LEFT, k] >= sums[RIGHT, k] else "right"
        if side not in chosen or areas[k] > areas[chosen[side]]:
            chosen[side] = k
    hands = []
    for side, k in chosen.items():
        x, y, w, h = stats[k, :4]
        box = np.array([x, y, x + w - 1, y + h - 1], dtype=np.float64)
        box[2:] = np.maximum(box[2:], box[:2] + 1.0)  # a positive extent, as the generator's boxes
        side_score = max(sums[LEFT, k], sums[RIGHT, k]) / (sums[LEFT, k] + sums[RIGHT, k]) if sides else 0.5
        score = 1.0 - sums[BACKGROUND, k] / areas[k]
        hands.append(SegmentedHand(box, float(score), side, float(side_score), components == k))
    return sorted(hands, key=lambda hand: -hand.score)
