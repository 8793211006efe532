"""The hand detector: every hand in a whole image, with its box, side and score.

Anchor-free and centre-based, as CenterNet (Zhou, Wang, Krähenbühl, "Objects as Points", 2019):
the network (:class:`~handpose.models.hand_detector_net.HandDetectorNet`) predicts a heatmap of
hand centres, and at each centre the sub-cell offset, the log box size and the hand's side; the
codec (:class:`~handpose.codecs.box_centers.BoxCenterCodec`) turns boxes into those maps and
peaks back into boxes, with OpenCV's NMS. Chosen over an SSD-lite head (chainer-hand-pose):
no anchors to fit to hand shapes and scales, one positive per hand, and NMS has little to do.

Why a dense network: on the 2-core CPU handpose trains on, one bf16 training step (batch 16,
256 x 256, forward and backward, another job sharing the cores) took 3.3 s for this network
with its default widths (1.3 M parameters, output stride 4; 2.0 s at stride 8) against 4.4 s
for MobileNetV2's backbone alone at width 0.5 (0.5 M parameters, no neck nor heads).

Training: the whole image is letterboxed into a square input (:mod:`handpose.data.detection_pipeline`
builds the Dataset, :meth:`HandDetector.training_dataset`); the loss is CenterNet's: the
penalty-reduced focal loss on the heatmap, L1 on offsets and log sizes at the centres, and a
binary cross-entropy on the side where the side is known, each averaged over the hands.

Validation (:meth:`HandDetector.validation_metrics`), in input pixels: ``ap50`` (box AP at IoU
0.5 over all detections of at least ``boxes.min_score``), and at the operating threshold
``boxes.score_threshold``: ``recall50``, ``fp_per_image`` and ``side_accuracy`` (of the hands
found). :mod:`handpose.evaluation.detection` scores whole datasets with pycocotools.

Keyword arguments, each a section of an experiment config: ``network`` ({"name":
"hand_detector_net", **HandDetectorNet's kwargs but ``input_size``}), ``codec`` (its
``input_size`` is the detector's input side; ``heatmap_size`` may only repeat input / stride),
``boxes`` (:data:`BOXES_DEFAULTS`) and ``training`` (:data:`TRAINING_DEFAULTS`). The ``crop`` and
``loss`` sections of pose estimators do not apply: they must keep their defaults, except
``crop.flip_to_right``, which must be false (a detector sees both sides).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from handpose.codecs.box_centers import BoxCenterCodec, DecodedBoxes, box_iou
from handpose.codecs.target_codec import TargetCodec
from handpose.data.detection_pipeline import (
    SIDE_CODES,
    HandDetectionDataset,
    transform_boxes,
    warp_to_input,
    whole_image_box,
)
from handpose.estimators.base import CropSpec, Estimator
from handpose.estimators.heatmap_2d import CODEC_DEFAULTS, CROP_DEFAULTS, LOSS_DEFAULTS, _section, require_defaults
from handpose.geometry.camera import invert_affine
from handpose.models.hand_detector_net import HandDetectorNet
from handpose.structures import HandPrediction, HandSample, HandSide

if TYPE_CHECKING:
    from handpose.data.augment import AugmentConfig

NETWORK_NAME = "hand_detector_net"

#: Gaussian size of the targets (:mod:`handpose.codecs.box_centers`) and decoding: peaks of at
#: least ``min_score`` are candidates (validation AP and evaluation use them all), NMS at
#: ``nms_iou``, at most ``max_detections`` per image; ``score_threshold`` is the operating point,
#: where :meth:`HandDetector.detect` reports hands and recall and false positives are counted.
BOXES_DEFAULTS: dict[str, Any] = {
    "sigma_scale": 0.09, "min_sigma": 0.5, "min_score": 0.05, "nms_iou": 0.5, "max_detections": 20,
    "score_threshold": 0.3,
}
#: The Dataset's mirroring probability and smallest kept box side (input pixels), and the loss
#: weights of the offset, size and side terms (the heatmap's is 1).
TRAINING_DEFAULTS: dict[str, Any] = {
    "flip_probability": 0.5, "min_box_px": 2.0, "offset_weight": 1.0, "size_weight": 1.0, "side_weight": 1.0,
}
#: Validation matches a detection to a hand at this IoU.
MATCH_IOU = 0.5


@dataclass(frozen=True)
class HandBox:
    """A detected hand in its image's pixels: ``box`` x0, y0, x1, y1, ``score`` the detection
    confidence, ``side`` as the hand appears and ``side_score`` the confidence in that side (0.5
    to 1)."""

    box: np.ndarray
    score: float
    side: HandSide
    side_score: float

    def with_pose(self, prediction: HandPrediction) -> HandPrediction:
        """A pose estimator's prediction in this box, with this box's side, side confidence and
        finder ("detector"): how a top-down pipeline joins the two."""
        return replace(prediction, hand_side=self.side, hand_score=self.side_score, finder="detector")


class HandDetector(Estimator):
    """Centre heatmap, offset, size and side maps on a small dense network (see the module docstring)."""

    name = "hand_detector"

    def __init__(
        self,
        network: dict[str, Any],
        codec: dict[str, Any] | None = None,
        crop: dict[str, Any] | None = None,
        loss: dict[str, Any] | None = None,
        boxes: dict[str, Any] | None = None,
        training: dict[str, Any] | None = None,
    ) -> None:
        codec_settings = _section("codec", CODEC_DEFAULTS, codec)
        crop_settings = _section("crop", {**CROP_DEFAULTS, "flip_to_right": False}, crop)
        loss_settings = _section("loss", LOSS_DEFAULTS, loss)
        self.boxes = _section("estimator.boxes", BOXES_DEFAULTS, boxes)
        self.training_options = _section("estimator.training", TRAINING_DEFAULTS, training)
        if crop_settings["flip_to_right"]:
            raise ValueError(
                "crop.flip_to_right: must be false (and augment.flip_to_right too): a detector sees both sides"
            )
        who = "the hand detector"
        require_defaults(
            "codec", codec_settings, CODEC_DEFAULTS, ("input_size", "heatmap_size"), who, "see estimator.boxes"
        )
        require_defaults("crop", crop_settings, CROP_DEFAULTS, ("flip_to_right",), who, "it sees whole images")
        require_defaults("loss", loss_settings, LOSS_DEFAULTS, (), who, "see estimator.training")
        input_size = int(codec_settings["input_size"])
        super().__init__(
            CropSpec(input_size, float(crop_settings["padding"]), flip_to_right=False),
            {"network": dict(network), "codec": codec_settings, "crop": crop_settings, "loss": loss_settings,
             "boxes": self.boxes, "training": self.training_options},
        )
        options = dict(network)
        if options.pop("name", None) != NETWORK_NAME:
            raise ValueError(f"model.name: the hand detector's network is {NETWORK_NAME!r}")
        if "input_size" in options:
            raise ValueError("model.input_size: it follows from codec.input_size; leave it out")
        try:
            self.network = HandDetectorNet(**options, input_size=input_size).to(memory_format=torch.channels_last)
        except (TypeError, ValueError) as error:
            raise ValueError(f"model: {error}") from None
        stride = self.network.stride
        if codec_settings["heatmap_size"] not in (None, input_size // stride):
            raise ValueError(
                f"codec.heatmap_size {codec_settings['heatmap_size']} is not input {input_size} / stride {stride}"
            )
        try:
            sigma_scale, min_sigma = float(self.boxes["sigma_scale"]), float(self.boxes["min_sigma"])
            self.codec = BoxCenterCodec(input_size, stride, sigma_scale, min_sigma)
        except ValueError as error:
            raise ValueError(f"estimator.boxes: {error}") from None

    @property
    def targets(self) -> dict[str, TargetCodec]:
        """None from keypoints: the detector's targets come from boxes, encoded by its own Dataset
        (:meth:`training_dataset`) as ``batch["targets"]["centres"]``."""
        return {}

    def training_dataset(self, samples: Sequence[HandSample], augment: AugmentConfig | None, seed: int) -> Dataset:
        """Whole images with all their hands (:class:`~handpose.data.detection_pipeline.HandDetectionDataset`)."""
        options = self.training_options
        return HandDetectionDataset(
            samples, self.codec, augment, seed,
            flip_probability=float(options["flip_probability"]), min_box_px=float(options["min_box_px"]),
        )

    def forward(self, images: torch.Tensor) -> dict[str, Any]:
        return self.network(images)

    def loss(self, outputs: dict[str, Any], batch: dict[str, Any], epoch: int) -> dict[str, torch.Tensor]:
        target = batch["targets"]["centres"]
        mask, side_mask = target["mask"], target["side_mask"]
        hands = mask.sum().clamp(min=1.0)
        heatmap_loss = _focal_loss(outputs["heatmap"].float(), target["heatmap"]) / hands
        offset_loss = ((outputs["offset"].float() - target["offset"]).abs() * mask).sum() / hands
        size_loss = ((outputs["size"].float() - target["size"]).abs() * mask).sum() / hands
        side_terms = F.binary_cross_entropy_with_logits(outputs["side"].float(), target["side"], reduction="none")
        side_loss = (side_terms * side_mask).sum() / side_mask.sum().clamp(min=1.0)
        weights = self.training_options
        total = (
            heatmap_loss + weights["offset_weight"] * offset_loss + weights["size_weight"] * size_loss
            + weights["side_weight"] * side_loss
        )
        return {"loss": total, "heatmap_loss": heatmap_loss, "offset_loss": offset_loss, "size_loss": size_loss,
                "side_loss": side_loss}

    def decode_boxes(self, outputs: dict[str, Any], min_score: float | None = None) -> list[DecodedBoxes]:
        """Detections per image in input pixels, of at least ``min_score`` (default ``boxes.min_score``)."""
        settings = self.boxes
        return self.codec.decode(
            torch.sigmoid(outputs["heatmap"].detach().float()).cpu(),
            outputs["offset"].detach().float().cpu(),
            outputs["size"].detach().float().cpu(),
            torch.sigmoid(outputs["side"].detach().float()).cpu(),
            min_score=settings["min_score"] if min_score is None else min_score,
            nms_iou=settings["nms_iou"],
            max_detections=int(settings["max_detections"]),
        )

    def validation_records(self, outputs: dict[str, Any], batch: dict[str, Any]) -> np.ndarray:
        """Per image: the number of hands, then for each of ``boxes.max_detections`` slots the
        detection's score, whether it found a hand (IoU at least 0.5, each hand found once, best
        score first) and whether it then named the hand's side (NaN: an empty slot, or a hand of
        unknown side); all in input pixels."""
        slots = int(self.boxes["max_detections"])
        found = self.decode_boxes(outputs)
        counts = batch["count"].cpu().numpy()
        boxes, sides = batch["boxes"].cpu().numpy(), batch["sides"].cpu().numpy()
        records = np.full((len(found), 1 + 3 * slots), np.nan)
        for i, detections in enumerate(found):
            n = int(counts[i])
            records[i, 0] = n
            matched = match_detections(detections.boxes, boxes[i, :n], MATCH_IOU)
            right = detections.right >= 0.5
            for k, hand in enumerate(matched):
                side_ok = np.nan
                if hand >= 0 and sides[i, hand] >= 0:
                    side_ok = float(right[k] == (sides[i, hand] == SIDE_CODES["right"]))
                records[i, 1 + 3 * k: 4 + 3 * k] = detections.scores[k], float(hand >= 0), side_ok
        return records

    def validation_metrics(self, records: np.ndarray, auc_range_px: tuple[float, float]) -> dict[str, float]:
        """``ap50``, and at ``boxes.score_threshold`` ``recall50``, ``fp_per_image`` and
        ``side_accuracy`` (see the module docstring); ``auc_range_px`` concerns keypoints only."""
        hands = float(np.sum(records[:, 0]))
        detections = records[:, 1:].reshape(-1, 3)
        detections = detections[np.isfinite(detections[:, 0])]
        scores, hits, side_ok = detections.T
        chosen = scores >= self.boxes["score_threshold"]
        named = chosen & (hits > 0) & np.isfinite(side_ok)
        return {
            "ap50": average_precision(scores, hits > 0, hands),
            "recall50": float(np.sum(hits[chosen]) / hands) if hands else float("nan"),
            "fp_per_image": float(np.sum(chosen & (hits == 0)) / max(len(records), 1)),
            "side_accuracy": float(np.mean(side_ok[named])) if named.any() else float("nan"),
        }

    def detect(
        self,
        images: Sequence[np.ndarray],
        min_score: float | None = None,
        batch_size: int = 16,
        network: Callable[[torch.Tensor], dict[str, Any]] | None = None,
    ) -> list[list[HandBox]]:
        """The hands in each RGB uint8 image (any size), best first, in that image's pixels; of at
        least ``min_score`` (default: the operating threshold ``boxes.score_threshold``).
        ``network``: what turns the normalised images into the outputs instead of this estimator's
        own network (the ONNX backend's session); the warp and the decoding stay this one's."""
        threshold = self.boxes["score_threshold"] if min_score is None else min_score
        self.eval()
        run = self if network is None else network
        device = next(self.parameters()).device
        size = self.crop.input_size
        found: list[list[HandBox]] = []
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size]
            warped = [warp_to_input(image, whole_image_box(image.shape[1], image.shape[0]), size) for image in chunk]
            pixels = np.stack([w[0] for w in warped])
            with torch.no_grad():
                outputs = run(self.crop.normalize(pixels).to(device))
            for image, (_, affine), detections in zip(chunk, warped, self.decode_boxes(outputs, threshold)):
                height, width = image.shape[:2]
                corner = [width - 1, height - 1] * 2
                boxes = np.clip(transform_boxes(detections.boxes, invert_affine(affine)), 0.0, corner)
                found.append([
                    HandBox(box, float(score), "right" if right >= 0.5 else "left", float(max(right, 1.0 - right)))
                    for box, score, right in zip(boxes, detections.scores, detections.right)
                ])
        return found


def _focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, summed: alpha 2 at every cell, beta 4 on the
    negatives' (1 - target), positives where the target is exactly 1."""
    positive = target.eq(1.0).float()
    probability = torch.sigmoid(logits)
    positive_terms = F.logsigmoid(logits) * (1.0 - probability) ** 2 * positive
    negative_terms = F.logsigmoid(-logits) * probability**2 * (1.0 - target) ** 4 * (1.0 - positive)
    return -(positive_terms + negative_terms).sum()


def match_detections(boxes: np.ndarray, hands: np.ndarray, iou_threshold: float) -> np.ndarray:
    """For each detection (best first), the index of the hand it finds, or -1: the unmatched hand
    it overlaps most, if by at least ``iou_threshold`` (COCO's greedy matching)."""
    matched = np.full(len(boxes), -1)
    if len(boxes) == 0 or len(hands) == 0:
        return matched
    overlaps = box_iou(boxes, hands)
    free = np.ones(len(hands), bool)
    for k in range(len(boxes)):
        candidates = np.where(free, overlaps[k], -1.0)
        best = int(np.argmax(candidates))
        if candidates[best] >= iou_threshold:
            matched[k], free[best] = best, False
    return matched


def average_precision(scores: np.ndarray, hits: np.ndarray, hands: float) -> float:
    """Area under the precision-recall curve of detections ranked by score, with COCO's
    101-point interpolated precision; NaN without hands."""
    if hands <= 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores), kind="stable")
    hits = np.asarray(hits, dtype=float)[order]
    true_positives = np.cumsum(hits)
    recall = true_positives / hands
    precision = true_positives / np.arange(1, len(hits) + 1)
    precision = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision  # interpolated
    points = np.linspace(0.0, 1.0, 101)
    at = np.searchsorted(recall, points, side="left")
    return float(np.mean(np.where(at < len(precision), precision[np.minimum(at, len(precision) - 1)], 0.0)))
