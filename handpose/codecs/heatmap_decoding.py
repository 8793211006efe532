"""Heatmap decoders: the sub-pixel peak of each map, in heatmap pixels.

Every decoder takes maps of shape (..., h, w), numpy or torch, and returns ``(coords, scores)``:
float64 coordinates (..., 2) as (x, y) in heatmap pixels (centre of the top-left pixel at 0, 0)
and the maps' maxima (...,). :class:`~handpose.codecs.GaussianHeatmapCodec` turns them into input
pixels. All work on every map at once; none loops over joints.
"""

from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING, Callable

import numpy as np
from scipy.ndimage import gaussian_filter

if TYPE_CHECKING:
    import torch

HeatmapDecoder = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

DECODERS: tuple[str, ...] = ("argmax", "quarter", "dark", "soft_argmax")

#: Floor under DARK's smoothed maps before the log, so empty background cannot give -inf.
_LOG_FLOOR = 1e-10


def as_numpy_heatmaps(heatmaps: "np.ndarray | torch.Tensor") -> np.ndarray:
    """Heatmaps (..., h, w) from numpy or torch (any device) as float64 numpy."""
    if hasattr(heatmaps, "detach"):
        heatmaps = heatmaps.detach().cpu().numpy()
    heatmaps = np.asarray(heatmaps, dtype=np.float64)
    if heatmaps.ndim < 2 or 0 in heatmaps.shape[-2:]:
        raise ValueError(f"heatmaps must have shape (..., h, w) with h, w > 0, got {heatmaps.shape}")
    return heatmaps


def decode_argmax(heatmaps: "np.ndarray | torch.Tensor") -> tuple[np.ndarray, np.ndarray]:
    """The centre of each map's highest pixel (the first one on ties), and that maximum."""
    heatmaps = as_numpy_heatmaps(heatmaps)
    height, width = heatmaps.shape[-2:]
    flat = heatmaps.reshape(heatmaps.shape[:-2] + (height * width,))
    index = flat.argmax(axis=-1)
    scores = np.take_along_axis(flat, index[..., None], axis=-1)[..., 0]
    coords = np.stack([index % width, index // width], axis=-1).astype(np.float64)
    return coords, scores


def decode_quarter(heatmaps: "np.ndarray | torch.Tensor") -> tuple[np.ndarray, np.ndarray]:
    """Argmax moved a quarter pixel towards the higher neighbour on each axis.

    The classic refinement of Newell et al.'s hourglass code: on average it halves argmax's
    quantisation error. Pixels on the map's edge lack a neighbour on that axis and are not moved.
    """
    heatmaps = as_numpy_heatmaps(heatmaps)
    coords, scores = decode_argmax(heatmaps)
    patch, interior = _neighbourhood(heatmaps, coords)
    gradient, _ = _derivatives(patch)
    return coords + 0.25 * np.sign(gradient) * interior, scores


def decode_dark(heatmaps: "np.ndarray | torch.Tensor", sigma: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """DARK (Zhang et al., CVPR 2020): one Newton step on the log of the smoothed map.

    The map is first smoothed with a Gaussian of ``sigma`` (the sigma the training targets were
    drawn with; 0 skips it) so a network's ragged output becomes Gaussian-like again. The log of a
    Gaussian is a quadratic, whose maximum the second-order Taylor expansion around the argmax
    pixel finds exactly: ``argmax - H^-1 g`` with finite-difference gradient g and Hessian H. The
    step is taken only where H says the argmax is a maximum (negative definite) and both axes have
    neighbours, and is clipped to one pixel, beyond which the quadratic model is not trusted.
    Scaling a map does not change its log's derivatives, so unlike DARK's reference code no
    rescaling to the original peak is needed.
    """
    heatmaps = as_numpy_heatmaps(heatmaps)
    coords, scores = decode_argmax(heatmaps)
    if sigma > 0:
        spatial = (0.0,) * (heatmaps.ndim - 2) + (float(sigma), float(sigma))
        heatmaps = gaussian_filter(heatmaps, sigma=spatial, mode="nearest", truncate=4.0)
    patch, interior = _neighbourhood(np.log(np.maximum(heatmaps, _LOG_FLOOR)), coords)
    gradient, (dxx, dxy, dyy) = _derivatives(patch)
    det = dxx * dyy - dxy * dxy
    is_maximum = interior.all(axis=-1) & (dxx < 0) & (det > 0)
    safe_det = np.where(is_maximum, det, 1.0)
    gx, gy = gradient[..., 0], gradient[..., 1]
    step = -np.stack([dyy * gx - dxy * gy, dxx * gy - dxy * gx], axis=-1) / safe_det[..., None]
    return coords + np.clip(step, -1.0, 1.0) * is_maximum[..., None], scores


def decode_soft_argmax(heatmaps: "np.ndarray | torch.Tensor", sigma: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Weighted average of pixel centres (integral regression), in a window around the maximum.

    Averaging over the whole map would pull every estimate towards the map's centre, by the
    background a network leaves everywhere and by the part of a Gaussian cut off at the border.
    Averaging over a square of radius ``ceil(4 * sigma)`` pixels centred on the argmax pixel keeps
    it unbiased: the window is within half a pixel of symmetric about the peak, and the Gaussian
    mass it cuts off (beyond 4 sigma) moves the mean by less than 1e-3 pixel (for sigma >= 1, where
    the sampled Gaussian's centroid is exact to far better than that too). Negative values are
    clipped to 0. Near the map's edge the window is cut and the estimate pulled inwards.
    """
    heatmaps = as_numpy_heatmaps(heatmaps)
    coords, scores = decode_argmax(heatmaps)
    radius = math.ceil(4.0 * sigma)
    height, width = heatmaps.shape[-2:]
    xs, ys = np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64)
    in_x = np.abs(xs - coords[..., 0:1]) <= radius  # (..., w)
    in_y = np.abs(ys - coords[..., 1:2]) <= radius  # (..., h)
    weights = np.maximum(heatmaps, 0.0) * in_y[..., :, None] * in_x[..., None, :]
    total = weights.sum(axis=(-2, -1))
    has_mass = total > 0
    safe_total = np.where(has_mass, total, 1.0)
    mean_x = (weights.sum(axis=-2) * xs).sum(axis=-1) / safe_total
    mean_y = (weights.sum(axis=-1) * ys).sum(axis=-1) / safe_total
    averaged = np.stack([mean_x, mean_y], axis=-1)
    return np.where(has_mass[..., None], averaged, coords), scores


def heatmap_decoder(name: str, sigma: float) -> HeatmapDecoder:
    """The decoder called ``name``, tuned for maps drawn with Gaussians of ``sigma`` heatmap pixels."""
    if name == "argmax":
        return decode_argmax
    if name == "quarter":
        return decode_quarter
    if name == "dark":
        return partial(decode_dark, sigma=sigma)
    if name == "soft_argmax":
        return partial(decode_soft_argmax, sigma=sigma)
    raise ValueError(f"unknown heatmap decoder {name!r}; choose one of {', '.join(DECODERS)}")


def _neighbourhood(values: np.ndarray, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 3x3 patch (..., 3, 3) of ``values`` around integer ``coords`` (edges repeated), and
    (..., 2) whether the pixel has both neighbours along x and along y."""
    height, width = values.shape[-2:]
    ix, iy = coords[..., 0].astype(np.int64), coords[..., 1].astype(np.int64)
    offsets = np.arange(-1, 2)
    rows = np.clip(iy[..., None] + offsets, 0, height - 1)
    cols = np.clip(ix[..., None] + offsets, 0, width - 1)
    index = rows[..., :, None] * width + cols[..., None, :]
    flat = values.reshape(values.shape[:-2] + (height * width,))
    patch = np.take_along_axis(flat, index.reshape(index.shape[:-2] + (9,)), axis=-1).reshape(index.shape)
    interior = np.stack([(ix > 0) & (ix < width - 1), (iy > 0) & (iy < height - 1)], axis=-1)
    return patch, interior


def _derivatives(patch: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Central-difference gradient (..., 2) and Hessian entries (dxx, dxy, dyy) at a patch's centre."""
    centre = patch[..., 1, 1]
    left, right, up, down = patch[..., 1, 0], patch[..., 1, 2], patch[..., 0, 1], patch[..., 2, 1]
    gradient = 0.5 * np.stack([right - left, down - up], axis=-1)
    dxx = right - 2.0 * centre + left
    dyy = down - 2.0 * centre + up
    dxy = 0.25 * (patch[..., 2, 2] - patch[..., 2, 0] - patch[..., 0, 2] + patch[..., 0, 0])
    return gradient, (dxx, dxy, dyy)
