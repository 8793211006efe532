"""Top-down prediction with a fake model that reads the crop's geometry off the image itself.

Each source image stores its own pixel coordinates (red = x, green = y) and a sample tag (blue).
Bilinear warping reproduces a linear function exactly, so the fake model can fit the affine from
crop pixels back to source pixels, map the sample's ground truth into the crop and answer with
the codec's heatmaps of it. The code under test never tells the model its crop: if the crop, the
mirror or the mapping back were wrong, the keypoints would come back wrong. Crops are padded so
that every keypoint lies well inside, where decoding a Gaussian is exact to a few hundredths of a
pixel (near the edge a cut-off Gaussian biases any decoder).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from handpose.codecs import GaussianHeatmapCodec
from handpose.data.pipeline import IMAGE_MEAN, IMAGE_STD
from handpose.structures import VISIBLE, HandSample, keypoint_box
from handpose.evaluation.topdown import predict_topdown
from handpose.geometry.camera import apply_affine, invert_affine
from handpose.geometry.crop import CropBox, box_around
from handpose.skeleton import NUM_JOINTS

INPUT_SIZE = 64
IMAGE_WIDTH, IMAGE_HEIGHT = 200, 160  # red and green hold x and y: both must fit in 0..255


class GeometryReadingModel(nn.Module):
    """Answers each crop with heatmaps of its sample's ground truth, located through the image."""

    stride = 2

    def __init__(self, ground_truth: np.ndarray, codec: GaussianHeatmapCodec) -> None:
        super().__init__()
        self.ground_truth = ground_truth
        self.codec = codec
        self.mirrored: dict[int, bool] = {}  # sample index -> whether its crop was mirrored

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        mean = torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGE_STD).view(1, 3, 1, 1)
        pixels = ((images * std + mean) * 255.0).round().numpy()
        heatmaps = []
        for red, green, blue in pixels:
            index = sample_index(int(np.median(blue[blue > 0])))
            interior = _interior(blue == blue.max())
            v, u = np.nonzero(interior)
            design = np.column_stack([u, v, np.ones_like(u)]).astype(np.float64)
            solution, *_ = np.linalg.lstsq(design, np.column_stack([red[interior], green[interior]]), rcond=None)
            crop_to_source = solution.T  # (2, 3)
            self.mirrored[index] = bool(np.linalg.det(crop_to_source[:, :2]) < 0)
            in_crop = apply_affine(self.ground_truth[index], invert_affine(crop_to_source))
            heatmaps.append(self.codec.encode(in_crop, np.full(NUM_JOINTS, VISIBLE))["heatmaps"])
        return {"heatmaps": torch.from_numpy(np.stack(heatmaps))}


def _interior(mask: np.ndarray) -> np.ndarray:
    """Pixels whose four neighbours are in the mask too: away from the blend with the border."""
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return inner


def sample_tag(index: int) -> int:
    return 250 - index  # high, so a pixel blended with the black border never rounds back to it


def sample_index(tag: int) -> int:
    return 250 - tag


def coordinate_image(index: int) -> np.ndarray:
    v, u = np.mgrid[0:IMAGE_HEIGHT, 0:IMAGE_WIDTH]
    return np.stack([u, v, np.full_like(u, sample_tag(index))], axis=-1).astype(np.uint8)


def make_samples(sides: list[str | None], seed: int = 0) -> list[HandSample]:
    rng = np.random.default_rng(seed)
    samples = []
    for index, side in enumerate(sides):
        centre = rng.uniform([60, 50], [IMAGE_WIDTH - 60, IMAGE_HEIGHT - 50])
        keypoints = centre + rng.uniform(-30, 30, (NUM_JOINTS, 2))
        samples.append(
            HandSample(
                image=coordinate_image(index),
                keypoints_2d=keypoints,
                visibility=np.full(NUM_JOINTS, VISIBLE, dtype=np.int8),
                hand_side=side,  # type: ignore[arg-type]
                box=keypoint_box(keypoints),
                source="fake",
                sample_id=f"hand{index}",
            )
        )
    return samples


@pytest.fixture
def codec() -> GaussianHeatmapCodec:
    return GaussianHeatmapCodec(INPUT_SIZE, INPUT_SIZE // GeometryReadingModel.stride, sigma=2.0, decoder="dark")


def ground_truth(samples: list[HandSample]) -> np.ndarray:
    return np.stack([s.keypoints_2d for s in samples])


def test_right_left_and_unknown_hands_come_back_in_original_pixels(codec):
    samples = make_samples(["right", "left", None, "left", "right"])
    model = GeometryReadingModel(ground_truth(samples), codec)
    result = predict_topdown(model, codec, samples, INPUT_SIZE, padding=2.0, flip_to_right=True, batch_size=2, progress=False)
    assert model.mirrored == {0: False, 1: True, 2: False, 3: True, 4: False}
    assert result.keypoints.shape == (5, NUM_JOINTS, 2) and result.scores.shape == (5, NUM_JOINTS)
    errors = np.linalg.norm(result.keypoints - ground_truth(samples), axis=-1)
    assert errors.max() < 0.1
    expected_sizes = [box_around(s.box, 2.0).size for s in samples]
    assert np.allclose(result.crop_sizes, expected_sizes)
    assert np.all(result.scores > 0.5)


def test_models_of_both_hands_see_left_hands_unmirrored(codec):
    samples = make_samples(["left", "right"], seed=1)
    model = GeometryReadingModel(ground_truth(samples), codec)
    result = predict_topdown(model, codec, samples, INPUT_SIZE, padding=2.5, flip_to_right=False, progress=False)
    assert model.mirrored == {0: False, 1: False}
    assert np.abs(result.keypoints - ground_truth(samples)).max() < 0.1
    assert np.allclose(result.crop_sizes, [box_around(s.box, 2.5).size for s in samples])


def test_rotated_shifted_and_mirrored_boxes_map_back_exactly(codec):
    samples = make_samples(["right", "left", "right", None], seed=2)
    boxes = []
    for i, sample in enumerate(samples):
        base = box_around(sample.box, 3.0)
        centre = (base.center[0] + 0.05 * base.size * (-1) ** i, base.center[1] - 0.03 * base.size)
        boxes.append(CropBox(centre, base.size * (1.1 + 0.1 * i), rotation=[25.0, -40.0, 170.0, 90.0][i], flip=i % 2 == 1))
    model = GeometryReadingModel(ground_truth(samples), codec)
    result = predict_topdown(model, codec, samples, INPUT_SIZE, padding=1.5, flip_to_right=True, boxes=boxes, progress=False)
    assert model.mirrored == {0: False, 1: True, 2: False, 3: True}
    assert np.abs(result.keypoints - ground_truth(samples)).max() < 0.1
    assert np.allclose(result.crop_sizes, [b.size for b in boxes])


def test_a_wrong_mapping_would_be_caught(codec):
    """The fake model is strict: predictions for one sample's crop do not fit another sample."""
    samples = make_samples(["right", "right"], seed=3)
    model = GeometryReadingModel(ground_truth(samples)[::-1].copy(), codec)
    result = predict_topdown(model, codec, samples, INPUT_SIZE, padding=1.5, flip_to_right=True, progress=False)
    assert np.linalg.norm(result.keypoints - ground_truth(samples), axis=-1).mean() > 5.0


def test_bad_arguments_are_rejected(codec):
    samples = make_samples(["right"])
    model = GeometryReadingModel(ground_truth(samples), codec)
    with pytest.raises(ValueError, match="one per sample"):
        predict_topdown(model, codec, samples, INPUT_SIZE, 1.5, True, boxes=[], progress=False)
    with pytest.raises(ValueError, match="no samples"):
        predict_topdown(model, codec, [], INPUT_SIZE, 1.5, True, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        predict_topdown(model, codec, samples, INPUT_SIZE, 1.5, True, batch_size=0, progress=False)
