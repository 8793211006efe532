"""The torch Dataset of whole images for hand detection, and the letterbox that detection shares
with inference.

Readers give one :class:`~handpose.structures.HandSample` per hand; a detector learns from whole
images, so :func:`group_by_image` gathers the hands of each image (an image without hands comes
from the COCO reader's ``empty_images`` option, as a stand-in sample marked
:data:`~handpose.data.readers.coco.NO_HAND`).

An image reaches the network as a square of ``input_size`` pixels through a
:class:`~handpose.geometry.crop.CropBox`, the crop used everywhere else: without augmentation the
square around the whole image (a letterbox, padded with black); with it, that square zoomed,
shifted, turned and mirrored at random. Mirroring turns a left hand into a right one, so it swaps
the sides of the labels. Hand boxes go through the same affine (the axis-aligned bounds of their
turned corners), are clipped to the input and dropped when less than ``min_box_px`` of them is
left. Randomness depends only on (seed, epoch, index), as in :mod:`handpose.data.pipeline`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from handpose.codecs.box_centers import BoxCenterCodec
from handpose.codecs.image_normalization import normalize_image
from handpose.data.augment import AugmentConfig, photometric
from handpose.data.pipeline import SeededDataset, describe_sample
from handpose.data.readers.coco import NO_HAND
from handpose.geometry.camera import apply_affine, compose_affines
from handpose.geometry.crop import CropBox, crop_affine, crop_image
from handpose.geometry.flip import opposite_side
from handpose.structures import HandSample, HandSide, SampleError

#: Most hands one image may hold; validation batches carry that many box slots per image.
MAX_HANDS_PER_IMAGE = 16
#: Images shrunk by more than this factor are first area-averaged (a bilinear warp would alias).
AREA_SHRINK = 0.75
#: Side codes of :attr:`HandDetectionDataset` items' "sides".
SIDE_CODES: dict[HandSide | None, int] = {"left": 0, "right": 1, None: -1}


@dataclass(frozen=True)
class ImageHands:
    """One image and the samples of the hands in it (possibly none)."""

    sample: HandSample  # any sample of the image: where to load it from
    hands: tuple[HandSample, ...]

    @property
    def boxes(self) -> np.ndarray:
        """(N, 4) x0, y0, x1, y1 of the hands."""
        return np.array([hand.box for hand in self.hands], dtype=np.float64).reshape(-1, 4)

    @property
    def sides(self) -> tuple[HandSide | None, ...]:
        return tuple(hand.hand_side for hand in self.hands)


def group_by_image(samples: Sequence[HandSample]) -> list[ImageHands]:
    """The images of ``samples`` in order of first appearance, each with all its hands.

    Samples of one image share its file (or, in memory, the same array); stand-ins of images
    without hands (:data:`~handpose.data.readers.coco.NO_HAND`) add the image and no hand.
    """
    groups: dict[object, list[HandSample]] = {}
    for sample in samples:
        key = sample.image if isinstance(sample.image, Path) else id(sample.image)
        groups.setdefault(key, []).append(sample)
    images = []
    for members in groups.values():
        hands = [s for s in members if not s.extras.get(NO_HAND)]
        if len(hands) > MAX_HANDS_PER_IMAGE:
            where = f"{members[0].source} image {members[0].image}"
            raise SampleError(f"{where}: {len(hands)} hands, more than {MAX_HANDS_PER_IMAGE}")
        images.append(ImageHands(members[0], tuple(hands)))
    return images


def whole_image_box(width: int, height: int) -> CropBox:
    """The square around a whole image (its letterbox)."""
    return CropBox(center=((width - 1) / 2.0, (height - 1) / 2.0), size=float(max(width, height)))


def warp_to_input(image: np.ndarray, box: CropBox, input_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``box`` of ``image`` as an ``input_size`` square, and the (2, 3) affine from image pixels to it.

    Shrinking by more than :data:`AREA_SHRINK` first area-averages the image to about the
    input's scale, as a camera (or MediaPipe's resize) would, instead of aliasing.
    """
    zoom = input_size / box.size
    if zoom >= AREA_SHRINK:
        return crop_image(image, box, input_size), crop_affine(box, input_size)
    height, width = image.shape[:2]
    small = cv2.resize(image, (max(1, round(width * zoom)), max(1, round(height * zoom))), interpolation=cv2.INTER_AREA)
    fx, fy = small.shape[1] / width, small.shape[0] / height
    # Pixel centres: x' = (x + 0.5) * fx - 0.5.
    shrink = np.array([[fx, 0.0, 0.5 * fx - 0.5], [0.0, fy, 0.5 * fy - 0.5]])
    centre = apply_affine(np.array([box.center]), shrink)[0]
    small_box = replace(box, center=(float(centre[0]), float(centre[1])), size=box.size * (fx + fy) / 2.0)
    return crop_image(small, small_box, input_size), compose_affines(crop_affine(small_box, input_size), shrink)


def transform_boxes(boxes: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Axis-aligned bounds (N, 4) of boxes (N, 4) carried through a (2, 3) affine."""
    x0, y0, x1, y1 = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).T
    corners = np.stack([np.stack(corner, axis=-1) for corner in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))], axis=1)
    moved = apply_affine(corners, affine)
    return np.concatenate([moved.min(axis=1), moved.max(axis=1)], axis=1)


class HandDetectionDataset(SeededDataset):
    """Whole images with their hands' centre targets, for training or validating a detector.

    Items: "image" float32 (3, S, S) normalised; "targets" {"centres": ``codec.encode`` maps};
    "boxes" float32 (:data:`MAX_HANDS_PER_IMAGE`, 4) in input pixels, NaN past "count" (int64);
    "sides" int8 (:data:`MAX_HANDS_PER_IMAGE`,) of :data:`SIDE_CODES`, -2 past "count";
    "affine" float64 (2, 3) from the image to the input; "flipped" bool; "index" int64.

    With ``augment``, the square around the image is scaled by a factor drawn log-uniformly in
    ``augment.scale_range`` (above 1 the hands look smaller), shifted by up to ``augment.shift``
    of its side, turned by up to ``augment.rotation_degrees`` and mirrored with probability
    ``flip_probability``; the photometric changes of :func:`~handpose.data.augment.photometric`
    follow (random erasing anywhere in the input). ``augment.flip_to_right`` must be off: a
    detector sees both sides. Call :meth:`set_epoch` before each epoch.
    """

    def __init__(
        self,
        samples: Sequence[HandSample],
        codec: BoxCenterCodec,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        flip_probability: float = 0.5,
        min_box_px: float = 2.0,
    ) -> None:
        if augment is not None and augment.flip_to_right:
            raise ValueError("HandDetectionDataset: augment.flip_to_right must be off; a detector sees both sides")
        if not 0 <= flip_probability <= 1:
            raise ValueError(f"HandDetectionDataset: flip_probability must lie in [0, 1], got {flip_probability}")
        super().__init__(seed)
        self.images = group_by_image(samples)
        self.codec = codec
        self.augment = augment
        self.flip_probability = float(flip_probability)
        self.min_box_px = float(min_box_px)

    def __len__(self) -> int:
        return len(self.images)

    def _where(self, index: int) -> str:
        return describe_sample(self.images[index].sample)

    def _prepare(self, index: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        entry = self.images[index]
        image = entry.sample.load_image()
        size = self.codec.input_size
        box = whole_image_box(image.shape[1], image.shape[0])
        if self.augment is not None:
            box = random_whole_image_box(box, self.augment, self.flip_probability, rng)
        pixels, affine = warp_to_input(image, box, size)
        if self.augment is not None:
            pixels = photometric(pixels, self.augment, rng, hand_box=np.array([0.0, 0.0, size - 1.0, size - 1.0]))
        boxes = np.clip(transform_boxes(entry.boxes, affine), 0.0, size - 1.0)  # as the generator clips to the image
        sides = [opposite_side(side) if box.flip else side for side in entry.sides]
        kept = np.flatnonzero(np.all(boxes[:, 2:] - boxes[:, :2] >= self.min_box_px, axis=1))
        boxes, sides = boxes[kept], [sides[i] for i in kept]
        padded_boxes = np.full((MAX_HANDS_PER_IMAGE, 4), np.nan, np.float32)
        padded_boxes[: len(boxes)] = boxes
        padded_sides = np.full(MAX_HANDS_PER_IMAGE, -2, np.int8)
        padded_sides[: len(sides)] = [SIDE_CODES[side] for side in sides]
        targets = {key: torch.from_numpy(value) for key, value in self.codec.encode(boxes, sides).items()}
        return {
            "image": normalize_image(pixels),
            "targets": {"centres": targets},
            "boxes": torch.from_numpy(padded_boxes),
            "sides": torch.from_numpy(padded_sides),
            "count": torch.tensor(len(boxes), dtype=torch.int64),
            "affine": torch.as_tensor(affine),
            "flipped": torch.tensor(box.flip),
        }


def random_whole_image_box(
    whole: CropBox, augment: AugmentConfig, flip_probability: float, rng: np.random.Generator
) -> CropBox:
    """The square around a whole image, scaled log-uniformly in ``augment.scale_range``, shifted by
    up to ``augment.shift`` of its side, turned by up to ``augment.rotation_degrees`` and mirrored
    with ``flip_probability``: the geometric augmentation of image-level estimators."""
    low, high = np.log(augment.scale_range)
    side = whole.size * float(np.exp(rng.uniform(low, high)))
    shift = rng.uniform(-augment.shift, augment.shift, 2) * side
    return CropBox(
        center=(whole.center[0] + float(shift[0]), whole.center[1] + float(shift[1])),
        size=side,
        rotation=float(rng.uniform(-augment.rotation_degrees, augment.rotation_degrees)),
        flip=bool(rng.random() < flip_probability),
    )
