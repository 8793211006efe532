"""Random crops and photometric changes for training, and the fixed crop used without them.

Geometric augmentation only chooses a :class:`~handpose.geometry.crop.CropBox`; the crop itself
(:func:`~handpose.geometry.crop.crop_sample`) keeps image, keypoints and camera consistent, so
training, evaluation and inference share one warp.

Besides the usual colour jitter, blur and noise, three changes aimed at the gap between synthetic
training images and real webcam frames are available, all off by default: grey images, random
erasing (occluders over the hand) and Fourier amplitude mixing with real photographs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from handpose.geometry.crop import MIDDLE_MCP, CropBox, box_around, upright_rotation
from handpose.skeleton import WRIST
from handpose.structures import HandSample

if TYPE_CHECKING:
    from handpose.synth.photo_backgrounds import PhotoPool

#: FDA's own values are 0.01 to 0.09; a quarter of the crop side already swaps most of the image.
MAX_FOURIER_BETA = 0.25
#: Random erasing's rectangles have an aspect ratio between this and its inverse (Zhong et al.).
ERASING_ASPECT = 0.3


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random changes; each is drawn uniformly unless stated.

    - ``scale_range``: factor on the crop side, drawn log-uniformly (zooming in and out alike);
      above 1 the hand looks smaller.
    - ``rotation_degrees``: the crop turns by up to this much either way.
    - ``shift``: the crop centre moves by up to this fraction of the crop side, per axis.
    - ``flip_to_right``: mirror left hands so the model sees right hands only.
    - ``brightness``, ``contrast``, ``saturation``: factors drawn in [1 - x, 1 + x].
    - ``hue``: shift of the hue by up to this fraction of the colour circle (0.5 = half a turn).
    - ``blur_probability`` and ``blur_sigma`` (range, pixels): a Gaussian blur, sometimes.
    - ``noise_std``: Gaussian pixel noise, in grey levels of the 0-255 range.
    - ``grayscale_probability``: make the image grey (some webcams, night modes, and a network
      that must not rely on skin colour alone). About 0.02 ms per 128 x 128 crop.
    - ``random_erasing_probability`` and ``random_erasing_area`` (range, fraction of the hand
      box's area): cover a rectangle over a random point of the hand box with uniform noise or one
      random colour, as Zhong et al. (AAAI 2020) do, standing in for the objects, sleeves and
      other hands that occlude real hands; its area is at most the upper fraction of the box's.
      Needs the hand box (``photometric(..., hand_box=)``). About 0.07 ms per crop.
    - ``fourier_mix_probability`` and ``fourier_beta``: FDA (Yang & Soatto, CVPR 2020): the
      amplitude spectrum of the frequencies up to ``fourier_beta`` times the crop side (in cycles
      per crop) becomes a blend, with a weight drawn in [0, 1], of its own and that of a real
      photograph from the generator's photo pool
      (:func:`handpose.synth.photo_backgrounds.photo_pool`). The phase, and so the shapes, stay;
      the global colour, illumination and texture statistics move towards real photographs.
      About 0.4 ms per crop at 0.05, computed on the band alone (a whole FFT and its inverse
      cost more); listing the pool costs about 0.1 s once per worker, and the first use of each
      photo about 10 ms. (Times from one core, against about 0.3 ms for the rest of this step.)
    - ``random_convolution_probability``: RandConv (Xu et al., ICLR 2021): the crop passed
      through a convolution of random weights (3 channels to 3, kernel 1, 3, 5 or 7 pixels wide,
      Kaiming-normal), each output channel brought back to the crop's channel mean and its mean
      spread, and blended with the crop by a weight drawn in [0, 1]. Shapes stay where they are while local
      colour and texture are drawn afresh, so the network must read a hand by its shape rather
      than by the generator's skin shading. About 3 ms per 128 x 128 crop (one core).
    - ``wrong_side_probability``: show a hand of known side as the other side (a left hand as it
      is, a right hand mirrored) with targets that say no hand is there (every heatmap zero, every
      map weighed), so that a network of right hands learns to answer a left one with low scores:
      the Predictor keeps the orientation of each crop that scores higher, and telling them apart
      asks the network to tell a palm from the back of a hand. Needs ``flip_to_right`` and
      targets that can say "no hand" (a codec with ``encode_absent``, as the heatmap codec has).
    - ``upright_probability``: turn the crop so that the hand stands upright (wrist below the
      middle-finger knuckle, :func:`~handpose.geometry.crop.upright_rotation`) before the random
      turn of up to ``rotation_degrees``, as MediaPipe normalises its crops: a network that sees
      mostly upright hands has less to learn, and an upright second pass at inference shows it
      its hands that way. Hands without both joints labelled keep the plain crop.

    Their random numbers are drawn after all the others, and only when their probability is above
    zero, so at zero every other random draw, and the output, is what it was without them.
    """

    scale_range: tuple[float, float] = (0.8, 1.25)
    rotation_degrees: float = 30.0
    shift: float = 0.1
    flip_to_right: bool = True
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.03
    blur_probability: float = 0.1
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    noise_std: float = 3.0
    grayscale_probability: float = 0.0
    random_erasing_probability: float = 0.0
    random_erasing_area: tuple[float, float] = (0.02, 0.2)
    fourier_mix_probability: float = 0.0
    fourier_beta: float = 0.05
    random_convolution_probability: float = 0.0
    wrong_side_probability: float = 0.0
    upright_probability: float = 0.0

    def __post_init__(self) -> None:
        low, high = self.scale_range
        if not 0 < low <= high:
            raise ValueError(f"AugmentConfig.scale_range must satisfy 0 < low <= high, got {self.scale_range}")
        for name in ("rotation_degrees", "shift", "hue", "noise_std"):
            if getattr(self, name) < 0:
                raise ValueError(f"AugmentConfig.{name} must not be negative, got {getattr(self, name)}")
        for name in ("brightness", "contrast", "saturation"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"AugmentConfig.{name} must lie in [0, 1], got {getattr(self, name)}")
        probabilities = (
            "blur_probability", "grayscale_probability", "random_erasing_probability", "fourier_mix_probability",
            "random_convolution_probability", "wrong_side_probability", "upright_probability",
        )
        for name in probabilities:
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"AugmentConfig.{name} must lie in [0, 1], got {getattr(self, name)}")
        low, high = self.random_erasing_area
        if not 0 < low <= high <= 1:
            raise ValueError(
                f"AugmentConfig.random_erasing_area must satisfy 0 < low <= high <= 1, got {self.random_erasing_area}"
            )
        if not 0 < self.fourier_beta <= MAX_FOURIER_BETA:
            raise ValueError(f"AugmentConfig.fourier_beta must lie in (0, {MAX_FOURIER_BETA}], got {self.fourier_beta}")
        if not 0 < self.blur_sigma[0] <= self.blur_sigma[1]:
            raise ValueError(f"AugmentConfig.blur_sigma must satisfy 0 < low <= high, got {self.blur_sigma}")
        if self.wrong_side_probability > 0 and not self.flip_to_right:
            raise ValueError("AugmentConfig.wrong_side_probability needs flip_to_right: a network of both sides has no wrong one")


def evaluation_crop_box(sample: HandSample, padding: float, flip_to_right: bool) -> CropBox:
    """The crop without augmentation: the annotated hand box with padding, left hands mirrored."""
    box = box_around(sample.box, padding)
    return CropBox(box.center, box.size, flip=flip_to_right and sample.hand_side == "left")


def sample_crop_box(sample: HandSample, cfg: AugmentConfig, rng: np.random.Generator, padding: float) -> CropBox:
    """A random crop around the hand box: scaled, turned and shifted within ``cfg``'s ranges, now
    and then, for a hand of known side, mirrored to the wrong side (``wrong_side_probability``;
    :func:`shows_wrong_side` tells), and now and then turned so that the hand stands upright
    before the random turn (``upright_probability``)."""
    base = box_around(sample.box, padding)
    low, high = np.log(cfg.scale_range)
    size = base.size * float(np.exp(rng.uniform(low, high)))
    shift = rng.uniform(-cfg.shift, cfg.shift, 2) * size
    rotation = float(rng.uniform(-cfg.rotation_degrees, cfg.rotation_degrees))
    flip = cfg.flip_to_right and sample.hand_side == "left"
    if cfg.wrong_side_probability > 0 and sample.hand_side is not None and rng.random() < cfg.wrong_side_probability:
        flip = not flip
    if _happens(rng, cfg.upright_probability) and sample.labelled[[WRIST, MIDDLE_MCP]].all():
        rotation += upright_rotation(sample.keypoints_2d)
    return CropBox(
        center=(base.center[0] + float(shift[0]), base.center[1] + float(shift[1])), size=size, rotation=rotation, flip=flip
    )


def shows_wrong_side(sample: HandSample, box: CropBox, flip_to_right: bool) -> bool:
    """Whether ``box`` shows a network of right hands (``flip_to_right``) the sample's hand as a
    left one."""
    return flip_to_right and sample.hand_side is not None and box.flip != (sample.hand_side == "left")


def photometric(
    image: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator, hand_box: np.ndarray | None = None
) -> np.ndarray:
    """Randomly change colours, blur and add noise to an RGB uint8 image; returns a new uint8 image.

    Brightness, contrast, saturation and hue are per-value maps, applied as lookup tables on uint8
    (in OpenCV's 8-bit HSV for the last two): a few times faster than float arithmetic, which
    matters when loader workers share a few CPU cores. ``hand_box`` (x0, y0, x1, y1 in the
    image's pixels, e.g. the cropped sample's ``box``) is needed by random erasing only.
    Occluders are drawn first, as objects of the scene, and camera blur and noise last.
    """
    if cfg.random_erasing_probability > 0 and hand_box is None:
        raise ValueError("photometric: random_erasing_probability > 0 needs hand_box, the hand's box in the image")
    brightness = rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)
    contrast = rng.uniform(1 - cfg.contrast, 1 + cfg.contrast)
    saturation = rng.uniform(1 - cfg.saturation, 1 + cfg.saturation)
    hue_shift = rng.uniform(-cfg.hue, cfg.hue)
    blur_sigma = rng.uniform(*cfg.blur_sigma) if rng.random() < cfg.blur_probability else None
    noise_seed = int(rng.integers(2**31))
    erasing = None
    if _happens(rng, cfg.random_erasing_probability):
        erasing = _draw_erasing(rng, cfg.random_erasing_area, hand_box, image.shape[:2])  # type: ignore[arg-type]
    fourier = None
    if _happens(rng, cfg.fourier_mix_probability):
        fourier = int(rng.integers(len(_photos()))), float(rng.uniform())  # photo, weight
    grayscale = _happens(rng, cfg.grayscale_probability)
    random_convolution = None
    if _happens(rng, cfg.random_convolution_probability):
        random_convolution = _draw_random_convolution(rng)

    pixels = np.ascontiguousarray(image, dtype=np.uint8)
    if erasing is not None:
        pixels = _erase(pixels, *erasing)
    if fourier is not None:
        pixels = fourier_mix(pixels, _photo_amplitude(fourier[0], pixels.shape[:2], cfg.fourier_beta), fourier[1])
    if random_convolution is not None:
        pixels = random_convolution_mix(pixels, *random_convolution)
    levels = np.arange(256, dtype=np.float64)
    mean = brightness * float(np.mean(cv2.mean(pixels)[:3]))
    pixels = cv2.LUT(pixels, _levels_table((levels * brightness - mean) * contrast + mean))
    if saturation != 1.0 or hue_shift != 0.0:
        hsv = cv2.cvtColor(pixels, cv2.COLOR_RGB2HSV)
        hue = np.round(levels + 180.0 * hue_shift) % 180.0  # 8-bit hue runs over 0..179
        tables = np.stack([_levels_table(hue), _levels_table(levels * saturation), levels.astype(np.uint8)], axis=-1)
        pixels = cv2.cvtColor(cv2.LUT(hsv, tables[:, None, :]), cv2.COLOR_HSV2RGB)
    if grayscale:
        pixels = cv2.cvtColor(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    if blur_sigma is not None:
        pixels = cv2.GaussianBlur(pixels, (0, 0), sigmaX=float(blur_sigma))
    if cfg.noise_std > 0:
        # OpenCV's generator is about twice as fast as numpy's here; seeding it from ``rng`` keeps
        # the noise a function of the sample's random state.
        cv2.setRNGSeed(noise_seed)
        noise = np.empty((pixels.shape[0], pixels.size // pixels.shape[0]), dtype=np.int16)
        cv2.randn(noise, 0.0, float(cfg.noise_std))
        pixels = cv2.add(pixels, noise.reshape(pixels.shape), dtype=cv2.CV_8U)
    return pixels


def _levels_table(values: np.ndarray) -> np.ndarray:
    """A uint8 lookup table from 256 float values, rounded and clipped to 0..255."""
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


def _happens(rng: np.random.Generator, probability: float) -> bool:
    """Whether an optional change happens; draws nothing when it is off, keeping later draws as they were."""
    return probability > 0 and bool(rng.random() < probability)


def _draw_erasing(
    rng: np.random.Generator, area_range: tuple[float, float], hand_box: np.ndarray, shape: tuple[int, int]
) -> tuple[int, int, int, int, np.ndarray | None, int]:
    """A rectangle (x0, y0, x1, y1) of ``area_range`` times the hand box's area at most, centred on a
    random point of the box and shifted into the image if need be (it still covers that point),
    and its fill: an RGB colour, or None for noise from the seed."""
    height, width = shape
    bx0, by0, bx1, by1 = (float(v) for v in np.asarray(hand_box, dtype=np.float64))
    bx0, bx1 = np.clip([bx0, bx1], 0.0, width)
    by0, by1 = np.clip([by0, by1], 0.0, height)
    area = rng.uniform(*area_range) * max((bx1 - bx0) * (by1 - by0), 1.0)
    aspect = np.exp(rng.uniform(np.log(ERASING_ASPECT), -np.log(ERASING_ASPECT)))
    w = min(max(int(np.sqrt(area * aspect)), 1), width)
    h = min(max(int(np.sqrt(area / aspect)), 1), height)
    cx, cy = rng.uniform(bx0, bx1), rng.uniform(by0, by1)
    x0 = int(np.clip(round(cx - w / 2), 0, width - w))
    y0 = int(np.clip(round(cy - h / 2), 0, height - h))
    colour = rng.integers(0, 256, size=3).astype(np.uint8) if rng.random() < 0.5 else None
    return x0, y0, x0 + w, y0 + h, colour, int(rng.integers(2**31))


def _erase(pixels: np.ndarray, x0: int, y0: int, x1: int, y1: int, colour: np.ndarray | None, seed: int) -> np.ndarray:
    """A copy of ``pixels`` with the rectangle filled with ``colour``, or with uniform noise when None."""
    out = pixels.copy()
    if colour is not None:
        out[y0:y1, x0:x1] = colour
    else:
        noise = np.empty((y1 - y0, 3 * (x1 - x0)), dtype=np.uint8)  # one channel: cv2's bounds apply to the first only
        cv2.setRNGSeed(seed)
        cv2.randu(noise, 0, 256)
        out[y0:y1, x0:x1] = noise.reshape(y1 - y0, x1 - x0, 3)
    return out


def _photos() -> PhotoPool:
    """The generator's photo pool, imported on first use: only runs that mix in photos pay for it."""
    from handpose.synth.photo_backgrounds import photo_pool

    return photo_pool()


@functools.lru_cache(maxsize=16)
def _low_frequency_basis(n: int, band: int) -> tuple[np.ndarray, np.ndarray]:
    """The n-point DFT's rows for the frequencies -band..band, as cosine and sine parts (each
    (2 band + 1, n)): real matrices, because numpy multiplies complex by real matrices without BLAS
    (about 100 times slower here)."""
    angles = 2.0 * np.pi * np.outer(np.arange(-band, band + 1), np.arange(n)) / n
    return np.cos(angles), np.sin(angles)


def _band(shape: tuple[int, int], beta: float) -> int:
    """FDA's window half-width in frequencies: ``beta`` times the shorter side, below the Nyquist limit."""
    return min(int(np.floor(beta * min(shape))), (min(shape) - 1) // 2)


def _low_spectrum(pixels: np.ndarray, band: int) -> np.ndarray:
    """(3, 2 band + 1, 2 band + 1) complex: the DFT of each channel of an (H, W, 3) image at its
    lowest frequencies, as a few small matrix products (cheaper than a whole FFT for a small band)."""
    height, width = pixels.shape[:2]
    row_cos, row_sin = _low_frequency_basis(height, band)
    col_cos, col_sin = _low_frequency_basis(width, band)
    flat = pixels.reshape(height, -1).astype(np.float64)
    k = 2 * band + 1
    # Along the rows: (k, W * 3), rearranged to (3 * k, W) for the columns.
    real = (row_cos @ flat).reshape(k, width, 3).transpose(2, 0, 1).reshape(3 * k, width)
    imag = -(row_sin @ flat).reshape(k, width, 3).transpose(2, 0, 1).reshape(3 * k, width)
    spectrum = (real @ col_cos.T + imag @ col_sin.T) + 1j * (imag @ col_cos.T - real @ col_sin.T)
    return spectrum.reshape(3, k, k)


def _from_low_spectrum(spectrum: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) float64: the image whose DFT is ``spectrum`` (as from :func:`_low_spectrum`) in the
    band and zero elsewhere (real when ``spectrum`` is conjugate-symmetric)."""
    height, width = shape
    k = spectrum.shape[-1]
    band = (k - 1) // 2
    row_cos, row_sin = _low_frequency_basis(height, band)
    col_cos, col_sin = _low_frequency_basis(width, band)
    real, imag = spectrum.real.reshape(3 * k, k), spectrum.imag.reshape(3 * k, k)
    # Along the columns, then the rows, with the conjugate basis; only the real part is kept.
    cols_real = (real @ col_cos - imag @ col_sin).reshape(3, k, width).transpose(1, 2, 0).reshape(k, width * 3)
    cols_imag = (real @ col_sin + imag @ col_cos).reshape(3, k, width).transpose(1, 2, 0).reshape(k, width * 3)
    image = row_cos.T @ cols_real - row_sin.T @ cols_imag
    return image.reshape(height, width, 3) / (height * width)


@functools.lru_cache(maxsize=512)
def _photo_amplitude(index: int, shape: tuple[int, int], beta: float) -> np.ndarray:
    """The low-frequency amplitude spectrum of photo ``index`` resized to ``shape``, computed once."""
    photo = cv2.resize(_photos().image(index), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return np.abs(_low_spectrum(photo, _band(shape, beta)))


#: RandConv's kernel widths (pixels), one drawn per crop (Xu et al.'s choices).
RANDOM_KERNEL_SIZES = (1, 3, 5, 7)


def _draw_random_convolution(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """RandConv's kernel (3 out, 3 in, k, k), Kaiming-normal for 3 k^2 inputs, and the blend
    weight of the crop itself, drawn in [0, 1]."""
    size = int(rng.choice(RANDOM_KERNEL_SIZES))
    kernel = rng.normal(0.0, np.sqrt(2.0 / (3 * size * size)), (3, 3, size, size))
    return kernel, float(rng.uniform())


def random_convolution_mix(pixels: np.ndarray, kernel: np.ndarray, weight: float) -> np.ndarray:
    """An RGB uint8 image blended, ``weight`` of itself and the rest of its random convolution by
    ``kernel`` (3 out, 3 in, k, k; borders reflected), each output channel standardised to the
    image's channel mean and mean spread so that the blend keeps its exposure. torch is imported
    here, not with the module: configs import this module, and reading one needs no torch."""
    import torch

    source = pixels.astype(np.float32)
    pad = kernel.shape[-1] // 2
    planes = torch.from_numpy(source).permute(2, 0, 1)[None]
    if pad:
        planes = torch.nn.functional.pad(planes, (pad, pad, pad, pad), mode="reflect")
    with torch.no_grad():
        convolved = torch.nn.functional.conv2d(planes, torch.from_numpy(kernel.astype(np.float32)))
    convolved = convolved[0].permute(1, 2, 0).numpy()
    mean, spread = source.mean(axis=(0, 1)), source.std(axis=(0, 1)).mean() + 1e-3
    convolved = (convolved - convolved.mean(axis=(0, 1))) / (convolved.std(axis=(0, 1)) + 1e-3) * spread + mean
    return np.clip(weight * source + (1.0 - weight) * convolved + 0.5, 0, 255).astype(np.uint8)


def fourier_mix(pixels: np.ndarray, amplitude: np.ndarray, weight: float) -> np.ndarray:
    """FDA on an RGB uint8 image: its low-frequency amplitudes become ``(1 - weight)`` times their own
    plus ``weight`` times ``amplitude`` (that of another image, from :func:`_low_spectrum`), phases kept.

    Only the (2 b + 1)^2 lowest frequencies change, so the change is computed and added back in
    that band alone. Real images have conjugate-symmetric spectra, so the change is real too.
    """
    spectrum = _low_spectrum(pixels, (amplitude.shape[-1] - 1) // 2)
    own = np.abs(spectrum)
    target = (1.0 - weight) * own + weight * amplitude
    change = spectrum * (target / np.maximum(own, 1e-6) - 1.0)
    return np.clip(pixels + _from_low_spectrum(change, pixels.shape[:2]) + 0.5, 0, 255).astype(np.uint8)
