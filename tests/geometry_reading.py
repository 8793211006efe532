"""A fake estimator that reads each crop's geometry off the image itself, for exact uncrop tests.

Each source image stores its own pixel coordinates (red = x, green = y) and a sample tag (blue).
Bilinear warping reproduces a linear function exactly, so the fake network can fit the affine from
crop pixels back to source pixels, map the sample's ground truth into the crop and answer with
the codec's heatmaps of it. The code under test never tells it its crop: if the crop, the mirror
or the mapping back were wrong, the keypoints would come back wrong. Crops must keep every
keypoint well inside, where decoding a Gaussian is exact to a few hundredths of a pixel.
"""

from __future__ import annotations

import numpy as np
import torch

from handpose.codecs import GaussianHeatmapCodec
from handpose.codecs.image_normalization import IMAGE_MEAN, IMAGE_STD
from handpose.estimators import CropSpec, Estimator
from handpose.geometry.camera import apply_affine, invert_affine
from handpose.skeleton import NUM_JOINTS
from handpose.structures import VISIBLE

INPUT_SIZE = 64
IMAGE_WIDTH, IMAGE_HEIGHT = 200, 160  # red and green hold x and y: both must fit in 0..255


class GeometryReadingEstimator(Estimator):
    """Answers each crop with heatmaps of its sample's ground truth, located through the image."""

    name = "geometry_reading"
    stride = 2

    def __init__(self, ground_truth: np.ndarray, padding: float = 1.5, flip_to_right: bool = True) -> None:
        super().__init__(CropSpec(INPUT_SIZE, padding, flip_to_right), {})
        self.ground_truth = ground_truth
        self.codec = GaussianHeatmapCodec(INPUT_SIZE, INPUT_SIZE // self.stride, sigma=2.0, decoder="dark")
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # so the estimator has a device
        self.mirrored: dict[int, bool] = {}  # sample index -> whether its crop was mirrored

    def decode(self, outputs: dict) -> tuple[np.ndarray, np.ndarray]:
        return self.codec.decode(outputs["heatmaps"])

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


