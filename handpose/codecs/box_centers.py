"""Hand boxes as centre heatmaps and back: the targets and the decoding of a centre-based detector.

As in CenterNet (Zhou, Wang, Krähenbühl, "Objects as Points", 2019), a box is a peak on a heatmap
at the network's stride, and at the peak's cell the network also regresses the sub-cell offset of
the exact centre and the box's size. Here the cell also says the hand's side. There is one heatmap
for all hands and a separate side map, not one heatmap per side: a hand whose side a dataset does
not give (OneHand10K) still teaches where hands are, and one hand never raises two peaks of
different sides that would compete in NMS.

Coordinates: input pixels with the centre of the top-left pixel at (0, 0), as everywhere in
handpose. Heatmap cell j covers input pixels [j s - 0.5, (j + 1) s - 0.5) for stride s, so a
point c lies at u = (c + 0.5) / s - 0.5 in cell coordinates, in cell round(u), with offset
u - round(u) in [-0.5, 0.5).

Maps (:meth:`BoxCenterCodec.encode`, float32, h = w = input_size / stride):

- "heatmap" (1, h, w): the maximum over the boxes of Gaussians centred on their cells, exactly 1
  there (CenterNet's focal loss treats only those as positives), std
  ``max(min_sigma, sigma_scale * sqrt(box w * box h) / stride)``: 0.09 is about CenterNet's
  radius for a box overlap of 0.7;
- "offset" (2, h, w): x and y offset at each centre cell;
- "size" (2, h, w): log of the box width and height in cells (log: hands span 20 to 300 pixels,
  and a relative error is what costs the same IoU at every scale);
- "side" (1, h, w): 1 for a right hand, 0 for a left one;
- "mask" (1, h, w): 1 at centre cells, where offset and size are learnt;
- "side_mask" (1, h, w): 1 at centre cells of hands whose side is known.

Two boxes with their centres in one cell share the cell: the smaller box's offset, size and side
are kept (a small hand has no other cell; a large one's neighbours still peak).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from handpose.structures import HandSide

#: Default Gaussian std per box side (geometric mean of width and height), in cells.
SIGMA_SCALE = 0.09
#: Smallest Gaussian std, in cells.
MIN_SIGMA = 0.5


@dataclass(frozen=True)
class DecodedBoxes:
    """One image's detections in input pixels, best first: ``boxes`` (N, 4) x0, y0, x1, y1,
    ``scores`` (N,) the heatmap peaks, ``right`` (N,) the probability that each hand is a right one."""

    boxes: np.ndarray
    scores: np.ndarray
    right: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


@dataclass(frozen=True)
class BoxCenterCodec:
    """Boxes <-> centre heatmap, offset, size and side maps (see the module docstring)."""

    input_size: int
    stride: int
    sigma_scale: float = SIGMA_SCALE
    min_sigma: float = MIN_SIGMA

    def __post_init__(self) -> None:
        if self.stride <= 0 or self.input_size <= 0 or self.input_size % self.stride:
            raise ValueError(f"input_size {self.input_size} must be a positive multiple of the stride {self.stride}")
        if not (self.sigma_scale > 0 and self.min_sigma > 0):
            raise ValueError(f"sigma_scale and min_sigma must be positive, got {self.sigma_scale} and {self.min_sigma}")

    @property
    def heatmap_size(self) -> int:
        return self.input_size // self.stride

    def encode(self, boxes: np.ndarray, sides: Sequence[HandSide | None]) -> dict[str, np.ndarray]:
        """The maps of one image's boxes (N, 4) in input pixels and their sides (None: unknown).

        A box whose centre lies outside the input is left out (crop boxes to the input first).
        """
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if len(sides) != len(boxes):
            raise ValueError(f"got {len(sides)} sides for {len(boxes)} boxes")
        n = self.heatmap_size
        maps = {
            "heatmap": np.zeros((1, n, n), np.float32),
            "offset": np.zeros((2, n, n), np.float32),
            "size": np.zeros((2, n, n), np.float32),
            "side": np.zeros((1, n, n), np.float32),
            "mask": np.zeros((1, n, n), np.float32),
            "side_mask": np.zeros((1, n, n), np.float32),
        }
        extent = (boxes[:, 2:] - boxes[:, :2]) / self.stride
        if np.any(extent <= 0):
            raise ValueError("every box needs a positive width and height")
        centre = ((boxes[:, :2] + boxes[:, 2:]) / 2.0 + 0.5) / self.stride - 0.5
        cell = np.floor(centre + 0.5).astype(int)
        grid = np.arange(n, dtype=np.float64)
        for i in np.argsort(-np.prod(extent, axis=1), kind="stable"):  # largest first: smaller boxes overwrite
            (x, y), (w, h) = cell[i], extent[i]
            if not (0 <= x < n and 0 <= y < n):
                continue
            sigma = max(self.min_sigma, self.sigma_scale * float(np.sqrt(w * h)))
            gauss_x = np.exp(-((grid - x) ** 2) / (2 * sigma**2))
            gauss_y = np.exp(-((grid - y) ** 2) / (2 * sigma**2))
            np.maximum(maps["heatmap"][0], np.outer(gauss_y, gauss_x), out=maps["heatmap"][0])
            maps["offset"][:, y, x] = centre[i] - cell[i]
            maps["size"][:, y, x] = np.log([w, h])
            maps["mask"][0, y, x] = 1.0
            maps["side"][0, y, x] = float(sides[i] == "right")
            maps["side_mask"][0, y, x] = float(sides[i] is not None)
        return maps

    def decode(
        self,
        heatmap: torch.Tensor | np.ndarray,
        offset: torch.Tensor | np.ndarray,
        size: torch.Tensor | np.ndarray,
        right: torch.Tensor | np.ndarray,
        min_score: float = 0.05,
        nms_iou: float = 0.5,
        max_detections: int = 20,
    ) -> list[DecodedBoxes]:
        """Detections per image from batched maps: ``heatmap`` (B, 1, h, w) and ``right`` (B, 1,
        h, w) as probabilities, ``offset`` and ``size`` (B, 2, h, w) as encoded.

        Peaks are the cells that are the maximum of their 3x3 neighbourhood, at least
        ``min_score``; of the ``4 * max_detections`` highest, boxes overlapping a better one by
        more than ``nms_iou`` are dropped (:func:`nms`), and at most ``max_detections`` kept.
        """
        if not 0 < min_score <= 1:
            raise ValueError(f"min_score must lie in (0, 1], got {min_score}")
        heat = torch.as_tensor(heatmap, dtype=torch.float32)
        peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)
        flat = peaks.flatten(1)
        scores, index = flat.topk(min(4 * max_detections, flat.shape[1]), dim=1)
        n = self.heatmap_size
        cells = torch.stack([index % n, index // n], dim=-1).to(torch.float64)  # (B, K, 2) x, y

        def at_peaks(values: torch.Tensor | np.ndarray) -> np.ndarray:
            grid = torch.as_tensor(values, dtype=torch.float64).flatten(2)  # (B, C, h*w)
            return torch.gather(grid, 2, index[:, None, :].expand(-1, grid.shape[1], -1)).permute(0, 2, 1).numpy()

        centre = (cells.numpy() + at_peaks(offset) + 0.5) * self.stride - 0.5
        half = np.exp(at_peaks(size)) * self.stride / 2.0
        boxes = np.concatenate([centre - half, centre + half], axis=-1)
        right_probability = at_peaks(right)[..., 0]
        scores_np = scores.to(torch.float64).numpy()
        found = []
        for b in range(len(boxes)):
            keep = np.flatnonzero(scores_np[b] >= min_score)
            keep = keep[nms(boxes[b, keep], scores_np[b, keep], nms_iou)][:max_detections]
            found.append(DecodedBoxes(boxes[b, keep], scores_np[b, keep], right_probability[b, keep]))
        return found


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes (N, 4) x0, y0, x1, y1 that no better-scoring box overlaps by more than
    ``iou_threshold`` (intersection over union), best first; OpenCV's ``cv2.dnn.NMSBoxes``, which
    keeps positive scores only."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return np.zeros(0, dtype=int)
    rects = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    keep = cv2.dnn.NMSBoxes(rects.tolist(), np.asarray(scores, dtype=np.float64).tolist(), 0.0, iou_threshold)
    return np.asarray(keep, dtype=int).reshape(-1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of ``a`` (N, 4) with every box of ``b`` (M, 4): (N, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(1, -1, 4)
    width = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0.0, None)
    height = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0.0, None)
    inter = width * height
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-12)
