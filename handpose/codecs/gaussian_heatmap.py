"""Keypoints <-> one Gaussian heatmap per joint, the target of every heatmap model in handpose."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from handpose.codecs.heatmap_decoding import as_numpy_heatmaps, heatmap_decoder
from handpose.codecs.heatmap_grid import HeatmapGrid, Size

if TYPE_CHECKING:
    import torch


class GaussianHeatmapCodec:
    """Encode keypoints in input pixels as Gaussian heatmaps; decode heatmaps back to input pixels.

    ``sigma`` is in heatmap pixels. The input/heatmap size ratio (the stride) may be anything,
    e.g. 1, 2, 4 or 8; coordinates map through :class:`~handpose.codecs.heatmap_grid.HeatmapGrid`,
    so that decoding an encoded keypoint gives it back (up to the decoder's accuracy).
    ``unit_peak`` scales each map so its maximum is exactly 1, as in the FreiHAND U-Net reference:
    a Gaussian centred between pixel centres otherwise peaks below 1. ``decoder`` is one of
    :data:`~handpose.codecs.heatmap_decoding.DECODERS`.
    """

    def __init__(
        self,
        input_size: Size,
        heatmap_size: Size,
        sigma: float = 2.0,
        unit_peak: bool = False,
        decoder: str = "dark",
    ) -> None:
        if not sigma > 0:
            raise ValueError(f"sigma must be positive (heatmap pixels), got {sigma!r}")
        self.grid = HeatmapGrid.from_sizes(input_size, heatmap_size)
        self.sigma = float(sigma)
        self.unit_peak = bool(unit_peak)
        heatmap_decoder(decoder, self.sigma)  # fail here, not at the first decode, on an unknown name
        self.decoder = decoder

    @property
    def input_size(self) -> tuple[int, int]:
        return self.grid.input_size

    @property
    def heatmap_size(self) -> tuple[int, int]:
        return self.grid.heatmap_size

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(input_size={self.input_size}, heatmap_size={self.heatmap_size}, "
            f"sigma={self.sigma}, unit_peak={self.unit_peak}, decoder={self.decoder!r})"
        )

    def encode(self, keypoints: np.ndarray, visibility: np.ndarray) -> dict[str, np.ndarray]:
        """Heatmaps for keypoints (..., K, 2) in input pixels with visibility flags (..., K).

        Returns ``{"heatmaps": float32 (..., K, h, w), "weights": float32 (..., K)}``. Unlabelled
        joints (visibility 0) and joints whose centre falls off the heatmap get an all-zero map and
        weight 0, so a weighted loss ignores them instead of teaching "no joint here".
        """
        keypoints = np.asarray(keypoints, dtype=np.float64)
        visibility = np.asarray(visibility)
        if keypoints.ndim < 2 or keypoints.shape[-1] != 2 or keypoints.shape[:-1] != visibility.shape:
            raise ValueError(
                f"keypoints must be (..., K, 2) and visibility (..., K), got {keypoints.shape} and {visibility.shape}"
            )
        centres = self.grid.to_heatmap(keypoints)
        valid = (visibility > 0) & self.grid.inside(centres)
        centres = np.where(valid[..., None], centres, 0.0)
        width, height = self.heatmap_size
        # A 2D Gaussian is the outer product of two 1D ones: cheap, and its maximum is the product
        # of theirs, so normalising each factor to a peak of 1.0 makes the map's peak exactly 1.0.
        along_x = self._gaussian(np.arange(width) - centres[..., 0:1])
        along_y = self._gaussian(np.arange(height) - centres[..., 1:2])
        if self.unit_peak:
            along_x /= along_x.max(axis=-1, keepdims=True)
            along_y /= along_y.max(axis=-1, keepdims=True)
        heatmaps = along_y[..., :, None] * along_x[..., None, :] * valid[..., None, None]
        return {"heatmaps": heatmaps.astype(np.float32), "weights": valid.astype(np.float32)}

    def encode_absent(self, num_keypoints: int) -> dict[str, np.ndarray]:
        """The targets of a crop with no hand the network should find (a hand of the wrong side:
        ``AugmentConfig.wrong_side_probability``): all ``num_keypoints`` maps zero and weighed, so
        the loss teaches "no joint here"."""
        width, height = self.heatmap_size
        return {
            "heatmaps": np.zeros((num_keypoints, height, width), np.float32),
            "weights": np.ones(num_keypoints, np.float32),
        }

    def decode(self, heatmaps: "np.ndarray | torch.Tensor") -> tuple[np.ndarray, np.ndarray]:
        """Keypoints float32 (..., K, 2) in input pixels and scores float32 (..., K) (each map's
        maximum) from heatmaps (..., K, h, w), numpy or torch; the result is always numpy."""
        heatmaps = as_numpy_heatmaps(heatmaps)
        width, height = self.heatmap_size
        if heatmaps.ndim < 3 or heatmaps.shape[-2:] != (height, width):
            raise ValueError(f"heatmaps must be (..., K, {height}, {width}) for this codec, got {heatmaps.shape}")
        coords, scores = heatmap_decoder(self.decoder, self.sigma)(heatmaps)
        return self.grid.to_input(coords).astype(np.float32), scores.astype(np.float32)

    def _gaussian(self, offsets: np.ndarray) -> np.ndarray:
        return np.exp(-0.5 * (offsets / self.sigma) ** 2)
