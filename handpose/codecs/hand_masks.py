"""Hand masks as segmentation targets and back: what HandSegNet (Zimmermann & Brox, ICCV 2017) learns.

**Labels.** An image's mask as a class code per pixel, :data:`BACKGROUND`, :data:`LEFT` or
:data:`RIGHT` (the hand as it appears in the image), made from RHD's classes by
:func:`rhd_labels` (0 background, 1 person, 2-17 left hand, 18-33 right hand: RHD's masks and
the generator's). A mirror swaps left and right (:func:`mirror_labels`). A codec without
``sides`` learns hand against background, as the paper's HandSegNet: its classes are background
and :data:`HAND` (either side).

**Targets** (:meth:`HandMaskCodec.encode`): side labels in input pixels -> the share of each of the
codec's classes in each cell of the network's output grid, (C, h, w) float32 summing to 1 per
cell: the exact block average of the one-hot labels (the input side is a multiple of the stride).
A cell on a hand's edge learns the edge's share rather than a coin flip of nearest sampling, and a
finger thinner than a cell still leaves its share in the targets.

**Decoding.** Logits (B, C, h, w) -> class probabilities at input resolution
(:meth:`HandMaskCodec.probabilities`: bilinear upsampling of the logits, then softmax, as the paper
upsamples its score maps; cell j's centre is input pixel (j + 0.5) s - 0.5, handpose's
pixel-centre convention, which ``align_corners=False`` follows), -> the image's own pixels through
the inverse of the image -> input affine (:meth:`HandMaskCodec.to_image`), -> the most probable
class per pixel (:meth:`HandMaskCodec.labels`) and one boolean mask per side
(:meth:`HandMaskCodec.masks`).

**Mask IoU** (:func:`iou_counts`): intersection and union pixel counts per class and for the hand
as a whole (left or right), summed over a set before dividing, as segmentation benchmarks pool them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

#: Side label codes (what :func:`rhd_labels` gives and :meth:`HandMaskCodec.encode` takes).
BACKGROUND, LEFT, RIGHT = 0, 1, 2
#: The hand class of a codec without sides.
HAND = 1
#: RHD's mask classes of each hand (left 2-17, right 18-33: phalanges and palm).
RHD_LEFT_CLASSES = range(2, 18)
RHD_RIGHT_CLASSES = range(18, 34)
#: Class names of a codec with and without sides, in the order of the network's channels.
SIDE_CLASSES: tuple[str, ...] = ("background", "left", "right")
HAND_CLASSES: tuple[str, ...] = ("background", "hand")
#: The IoU :func:`iou_counts` counts besides each class: the hand, whatever its side.
WHOLE_HAND = "hand"

#: Lookup table of a mirror: left <-> right.
_MIRRORED = np.array([BACKGROUND, RIGHT, LEFT], np.uint8)


def rhd_labels(mask: np.ndarray) -> np.ndarray:
    """(H, W) RHD classes -> (H, W) uint8 side labels; the person (arm, sleeve, body) is background."""
    mask = np.asarray(mask)
    labels = np.zeros(mask.shape, np.uint8)
    labels[(mask >= RHD_LEFT_CLASSES.start) & (mask < RHD_LEFT_CLASSES.stop)] = LEFT
    labels[(mask >= RHD_RIGHT_CLASSES.start) & (mask < RHD_RIGHT_CLASSES.stop)] = RIGHT
    return labels


def mirror_labels(labels: np.ndarray) -> np.ndarray:
    """Side labels with left and right swapped (the pixels stay where they are): what a label
    map mirrored with its image must go through, since a mirrored left hand looks like a right one."""
    return _MIRRORED[labels]


def class_names(sides: bool) -> tuple[str, ...]:
    """The classes of a codec with or without sides, in the order of the network's channels."""
    return SIDE_CLASSES if sides else HAND_CLASSES


@dataclass(frozen=True)
class HandMaskCodec:
    """Side labels <-> class shares on the output grid, and logits -> probabilities and masks
    (see the module docstring). ``sides``: background, left and right; else background and hand."""

    input_size: int
    stride: int
    sides: bool = True

    def __post_init__(self) -> None:
        if self.stride <= 0 or self.input_size <= 0 or self.input_size % self.stride:
            raise ValueError(f"input_size {self.input_size} must be a positive multiple of the stride {self.stride}")

    @property
    def class_names(self) -> tuple[str, ...]:
        return class_names(self.sides)

    @property
    def classes(self) -> int:
        return len(self.class_names)

    @property
    def grid_size(self) -> int:
        return self.input_size // self.stride

    def class_labels(self, labels: np.ndarray) -> np.ndarray:
        """Side labels as this codec's classes (left and right become :data:`HAND` without sides)."""
        labels = np.asarray(labels, dtype=np.uint8)
        return labels if self.sides else (labels != BACKGROUND).astype(np.uint8)

    def encode(self, labels: np.ndarray) -> dict[str, np.ndarray]:
        """``{"fractions": (C, h, w) float32}`` from (S, S) side labels in input pixels."""
        labels = self.class_labels(labels)
        if labels.shape != (self.input_size, self.input_size):
            raise ValueError(f"labels of shape {labels.shape}, expected ({self.input_size}, {self.input_size})")
        n, s = self.grid_size, self.stride
        one_hot = (labels[None] == np.arange(self.classes, dtype=np.uint8)[:, None, None]).astype(np.float32)
        return {"fractions": one_hot.reshape(self.classes, n, s, n, s).mean(axis=(2, 4))}

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) logits -> (B, C, S, S) float32 class probabilities at input resolution."""
        size = (self.input_size, self.input_size)
        return torch.softmax(F.interpolate(logits.float(), size=size, mode="bilinear", align_corners=False), dim=1)

    def to_image(self, probabilities: np.ndarray, affine: np.ndarray, width: int, height: int) -> np.ndarray:
        """(C, S, S) probabilities in input pixels -> (C, height, width) in the image's pixels,
        ``affine`` (2, 3) mapping the image to the input (bilinear; the input's edge is repeated
        beyond it, so probabilities still sum to 1 there)."""
        channels_last = np.ascontiguousarray(np.moveaxis(np.asarray(probabilities, dtype=np.float32), 0, -1))
        warped = cv2.warpAffine(
            channels_last, np.asarray(affine, dtype=np.float64), (int(width), int(height)),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE,
        )
        return np.moveaxis(warped.reshape(height, width, -1), -1, 0)

    @staticmethod
    def labels(probabilities: np.ndarray) -> np.ndarray:
        """(C, H, W) probabilities -> (H, W) uint8 most probable class."""
        return np.argmax(probabilities, axis=0).astype(np.uint8)

    def masks(self, labels: np.ndarray) -> dict[str, np.ndarray]:
        """(H, W) class labels -> {"left", "right"} (with sides) or {"hand"}: (H, W) bool each."""
        return {name: labels == code for code, name in enumerate(self.class_names) if code != BACKGROUND}


def iou_names(sides: bool) -> tuple[str, ...]:
    """What :func:`iou_counts` counts: each class, and with sides the whole hand too."""
    return class_names(sides) + ((WHOLE_HAND,) if sides else ())


def iou_counts(predicted: np.ndarray, truth: np.ndarray, sides: bool) -> np.ndarray:
    """(K, 2) intersection and union pixel counts of each of :func:`iou_names`, from (H, W) class
    labels of one image (a codec's classes, both of the same codec)."""
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    if predicted.shape != truth.shape:
        raise ValueError(f"predicted labels {predicted.shape} and true labels {truth.shape} differ in shape")
    pairs = [(predicted == code, truth == code) for code in range(len(class_names(sides)))]
    if sides:
        pairs.append((predicted != BACKGROUND, truth != BACKGROUND))
    return np.array([[np.count_nonzero(p & t), np.count_nonzero(p | t)] for p, t in pairs], dtype=np.int64)


def iou_figures(counts: np.ndarray, sides: bool) -> dict[str, float]:
    """``iou_<name>`` (summed intersections over summed unions; NaN where both are empty) and
    ``miou``, the mean over the classes, from :func:`iou_counts` of one image (K, 2) or of several,
    stacked or flattened per image ((N, K, 2) or (N, 2 K))."""
    totals = np.asarray(counts, dtype=np.float64).reshape(-1, len(iou_names(sides)), 2).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ious = np.where(totals[:, 1] > 0, totals[:, 0] / totals[:, 1], np.nan)
    figures = {f"iou_{name}": float(value) for name, value in zip(iou_names(sides), ious)}
    classes = ious[: len(class_names(sides))]
    figures["miou"] = float(np.nanmean(classes)) if np.isfinite(classes).any() else float("nan")
    return figures
