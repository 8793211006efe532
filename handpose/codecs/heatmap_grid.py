"""The mapping between input pixels and the coarser pixels of a heatmap.

Both grids follow :mod:`handpose.geometry.camera`: the centre of the top-left pixel is (0, 0). A
heatmap pixel covers ``stride`` input pixels, so the centre of heatmap pixel ``h`` lies at input
coordinate ``(h + 0.5) * stride - 0.5`` (not ``h * stride``, which would shift every decoded
keypoint by ``(stride - 1) / 2`` pixels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Size = int | tuple[int, int]


def as_width_height(size: Size, what: str) -> tuple[int, int]:
    """``size`` as (width, height); a single int means a square."""
    pair = (size, size) if np.isscalar(size) else tuple(size)  # type: ignore[arg-type]
    if len(pair) != 2 or any(int(side) != side or side <= 0 for side in pair):
        raise ValueError(f"{what} must be a positive int or a (width, height) pair of them, got {size!r}")
    return int(pair[0]), int(pair[1])


@dataclass(frozen=True)
class HeatmapGrid:
    """An input image of ``input_size`` pixels seen through a heatmap of ``heatmap_size`` pixels.

    Sizes are (width, height). The stride is input over heatmap size on each axis and need not be
    an integer.
    """

    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]

    @classmethod
    def from_sizes(cls, input_size: Size, heatmap_size: Size) -> "HeatmapGrid":
        return cls(as_width_height(input_size, "input_size"), as_width_height(heatmap_size, "heatmap_size"))

    @property
    def stride(self) -> np.ndarray:
        """(2,) input pixels per heatmap pixel along x and y."""
        return np.asarray(self.input_size, dtype=np.float64) / np.asarray(self.heatmap_size, dtype=np.float64)

    def to_heatmap(self, keypoints: np.ndarray) -> np.ndarray:
        """Input-pixel coordinates (..., 2) to heatmap-pixel coordinates."""
        return (np.asarray(keypoints, dtype=np.float64) + 0.5) / self.stride - 0.5

    def to_input(self, keypoints: np.ndarray) -> np.ndarray:
        """Heatmap-pixel coordinates (..., 2) to input-pixel coordinates."""
        return (np.asarray(keypoints, dtype=np.float64) + 0.5) * self.stride - 0.5

    def inside(self, heatmap_keypoints: np.ndarray) -> np.ndarray:
        """(...,) bool: heatmap coordinates (..., 2) that fall on one of the heatmap's pixels."""
        width, height = self.heatmap_size
        x, y = heatmap_keypoints[..., 0], heatmap_keypoints[..., 1]
        return (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)
