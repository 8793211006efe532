"""Random crops and photometric changes for training, and the fixed crop used without them.

Geometric augmentation only chooses a :class:`~handpose.geometry.crop.CropBox`; the crop itself
(:func:`~handpose.geometry.crop.crop_sample`) keeps image, keypoints and camera consistent, so
training, evaluation and inference share one warp.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from handpose.structures import HandSample
from handpose.geometry.crop import CropBox, box_around


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
        if not 0 <= self.blur_probability <= 1:
            raise ValueError(f"AugmentConfig.blur_probability must lie in [0, 1], got {self.blur_probability}")
        if not 0 < self.blur_sigma[0] <= self.blur_sigma[1]:
            raise ValueError(f"AugmentConfig.blur_sigma must satisfy 0 < low <= high, got {self.blur_sigma}")


def evaluation_crop_box(sample: HandSample, padding: float, flip_to_right: bool) -> CropBox:
    """The crop without augmentation: the annotated hand box with padding, left hands mirrored."""
    box = box_around(sample.box, padding)
    return CropBox(box.center, box.size, flip=flip_to_right and sample.hand_side == "left")


def sample_crop_box(sample: HandSample, cfg: AugmentConfig, rng: np.random.Generator, padding: float) -> CropBox:
    """A random crop around the hand box: scaled, turned and shifted within ``cfg``'s ranges."""
    base = box_around(sample.box, padding)
    low, high = np.log(cfg.scale_range)
    size = base.size * float(np.exp(rng.uniform(low, high)))
    shift = rng.uniform(-cfg.shift, cfg.shift, 2) * size
    return CropBox(
        center=(base.center[0] + float(shift[0]), base.center[1] + float(shift[1])),
        size=size,
        rotation=float(rng.uniform(-cfg.rotation_degrees, cfg.rotation_degrees)),
        flip=cfg.flip_to_right and sample.hand_side == "left",
    )


def photometric(image: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Randomly change colours, blur and add noise to an RGB uint8 image; returns a new uint8 image.

    Brightness, contrast, saturation and hue are per-value maps, applied as lookup tables on uint8
    (in OpenCV's 8-bit HSV for the last two): a few times faster than float arithmetic, which
    matters when loader workers share a few CPU cores.
    """
    brightness = rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)
    contrast = rng.uniform(1 - cfg.contrast, 1 + cfg.contrast)
    saturation = rng.uniform(1 - cfg.saturation, 1 + cfg.saturation)
    hue_shift = rng.uniform(-cfg.hue, cfg.hue)
    blur_sigma = rng.uniform(*cfg.blur_sigma) if rng.random() < cfg.blur_probability else None
    noise_seed = int(rng.integers(2**31))

    pixels = np.ascontiguousarray(image, dtype=np.uint8)
    levels = np.arange(256, dtype=np.float64)
    mean = brightness * float(np.mean(cv2.mean(pixels)[:3]))
    pixels = cv2.LUT(pixels, _levels_table((levels * brightness - mean) * contrast + mean))
    if saturation != 1.0 or hue_shift != 0.0:
        hsv = cv2.cvtColor(pixels, cv2.COLOR_RGB2HSV)
        hue = np.round(levels + 180.0 * hue_shift) % 180.0  # 8-bit hue runs over 0..179
        tables = np.stack([_levels_table(hue), _levels_table(levels * saturation), levels.astype(np.uint8)], axis=-1)
        pixels = cv2.cvtColor(cv2.LUT(hsv, tables[:, None, :]), cv2.COLOR_HSV2RGB)
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
