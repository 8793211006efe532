"""The torch Dataset of whole images with their hand masks, for training a hand segmentation network.

As for the detector (:mod:`handpose.data.detection_pipeline`, whose pieces this reuses): readers give
one sample per hand, :func:`~handpose.data.detection_pipeline.group_by_image` gathers each image;
the image reaches the network as a square of ``input_size`` pixels, the letterbox of the whole
image (:func:`~handpose.data.detection_pipeline.whole_image_box`,
:func:`~handpose.data.detection_pipeline.warp_to_input`), with augmentation zoomed, shifted, turned
and mirrored at random as the detector's, then changed photometrically.

The mask is every hand of the image in RHD's classes (any sample of the image points at it: RHD's
reader, and so handpose's synthetic sets in RHD's layout, ``handpose synth --format rhd``). It goes
through the very affine the image went through, with nearest-neighbour sampling so that no pixel
gets a class between two others, and a mirror swaps its left and right labels, as it swaps the
hands' sides. Pixels outside the image are background, as the black letterbox they show.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from handpose.codecs.hand_masks import HandMaskCodec, mirror_labels, rhd_labels
from handpose.codecs.image_normalization import normalize_image
from handpose.data.augment import AugmentConfig, photometric
from handpose.data.detection_pipeline import group_by_image, random_whole_image_box, warp_to_input, whole_image_box
from handpose.data.pipeline import SeededDataset, describe_sample
from handpose.structures import HandSample, SampleError


def warp_labels(labels: np.ndarray, affine: np.ndarray, input_size: int) -> np.ndarray:
    """(H, W) labels through the (2, 3) image -> input ``affine`` of
    :func:`~handpose.data.detection_pipeline.warp_to_input`: (S, S), nearest-neighbour, 0 outside."""
    return cv2.warpAffine(
        np.ascontiguousarray(labels), np.asarray(affine, dtype=np.float64), (input_size, input_size),
        flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )


class HandSegmentationDataset(SeededDataset):
    """Whole images with the class shares of their hand masks, for training or validating
    a segmentation network.

    Items: "image" float32 (3, S, S) normalised; "targets" {"masks": ``codec.encode`` of the
    labels}; "labels" uint8 (S, S), the side labels (:mod:`handpose.codecs.hand_masks`) in input
    pixels, for validation at full input resolution; "affine" float64 (2, 3) from the image to the
    input; "flipped" bool; "index" int64.

    With ``augment``: the random square of the detector's Dataset (scale drawn log-uniformly in
    ``augment.scale_range``, shift, rotation, a mirror with probability ``flip_probability``),
    then :func:`~handpose.data.augment.photometric` over the whole input. ``augment.flip_to_right``
    must be off: the network sees both sides. Call :meth:`set_epoch` before each epoch.
    """

    def __init__(
        self,
        samples: Sequence[HandSample],
        codec: HandMaskCodec,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        flip_probability: float = 0.5,
    ) -> None:
        if augment is not None and augment.flip_to_right:
            raise ValueError("HandSegmentationDataset: augment.flip_to_right must be off; masks show both sides")
        if not 0 <= flip_probability <= 1:
            raise ValueError(f"HandSegmentationDataset: flip_probability must lie in [0, 1], got {flip_probability}")
        super().__init__(seed)
        self.images = group_by_image(samples)
        unmasked = [entry.sample for entry in self.images if entry.sample.mask is None]
        if unmasked:
            raise SampleError(
                f"{describe_sample(unmasked[0])} and {len(unmasked) - 1} more image(s): no mask; hand segmentation "
                "learns from masks (RHD's layout has them: handpose synth --format rhd; the COCO layout does not)"
            )
        self.codec = codec
        self.augment = augment
        self.flip_probability = float(flip_probability)

    def __len__(self) -> int:
        return len(self.images)

    def _where(self, index: int) -> str:
        return describe_sample(self.images[index].sample)

    def _prepare(self, index: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        sample = self.images[index].sample
        image = sample.load_image()
        mask = sample.load_mask()  # there is one: checked when the Dataset was built
        if mask.shape != image.shape[:2]:
            raise SampleError(f"{self._where(index)}: mask {mask.shape} and image {image.shape[:2]} differ in size")
        size = self.codec.input_size
        box = whole_image_box(image.shape[1], image.shape[0])
        if self.augment is not None:
            # The detector's random square (a private method there: it only reads ``augment`` and
            # ``flip_probability``, which this Dataset has too).
            box = random_whole_image_box(box, self.augment, self.flip_probability, rng)
        pixels, affine = warp_to_input(image, box, size)
        labels = warp_labels(rhd_labels(mask), affine, size)
        if box.flip:
            labels = mirror_labels(labels)
        if self.augment is not None:
            pixels = photometric(pixels, self.augment, rng, hand_box=np.array([0.0, 0.0, size - 1.0, size - 1.0]))
        return {
            "image": normalize_image(pixels),
            "targets": {"masks": {key: torch.from_numpy(value) for key, value in self.codec.encode(labels).items()}},
            "labels": torch.from_numpy(labels),
            "affine": torch.as_tensor(affine),
            "flipped": torch.tensor(box.flip),
        }
