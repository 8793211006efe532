"""What a cheap camera does to the picture: white balance, exposure, blur, noise, vignetting, JPEG.

Real webcam frames are soft, noisy and compressed; a network trained on crisp renders learns edges
and colours that never occur in them. Every effect is drawn at random per image. The tone curve
is applied as a lookup table on 8-bit values, which keeps this step cheap.
"""

from __future__ import annotations

import cv2
import numpy as np


def _motion_kernel(rng: np.random.Generator, length: int) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((length - 1) / 2.0, (length - 1) / 2.0), float(rng.uniform(0, 180)), 1.0)
    kernel = cv2.warpAffine(kernel, rot, (length, length))
    return kernel / kernel.sum()


def _noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Zero-mean int16 noise of standard deviation ``sigma`` (8-bit levels): the sum of two uniform
    bytes (triangular, near Gaussian), ten times cheaper to draw than normal variates."""
    count = int(np.prod(shape))
    pair = np.frombuffer(rng.bytes(2 * count), np.uint8).astype(np.int16)
    scale = np.int16(round(256.0 * sigma / 104.1))  # 104.1: the standard deviation of the byte sum
    return (((pair[:count] + pair[count:] - 255) * scale) >> 8).reshape(shape)


def _tone_table(rng: np.random.Generator) -> np.ndarray:
    """(256, 1, 3) uint8 lookup table: white balance, exposure, gamma, contrast and brightness."""
    gains = rng.normal(1.0, 0.06, size=3) * rng.uniform(0.75, 1.2)
    gamma = rng.uniform(0.8, 1.25)
    contrast = rng.uniform(0.8, 1.15)
    brightness = rng.normal(0.0, 0.03)
    x = np.arange(256, dtype=float)[:, None] / 255.0
    y = (np.power(np.clip(x * gains[None, :], 0.0, 1.0), gamma) - 0.5) * contrast + 0.5 + brightness
    return np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8).reshape(256, 1, 3)


def apply_camera_effects(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Degrade an RGB uint8 image (H, W, 3) like a webcam would; returns a new RGB uint8 image."""
    size = image.shape[0]
    scale = size / 256.0
    out = cv2.LUT(image, _tone_table(rng))
    saturation = rng.uniform(0.6, 1.25)
    grey = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    out = cv2.addWeighted(out, saturation, grey, 1.0 - saturation, 0.0)

    # Optics: always slightly soft, sometimes defocused or moving.
    r = rng.random()
    if r < 0.12:
        out = cv2.filter2D(out, -1, _motion_kernel(rng, int(rng.integers(3, max(4, int(10 * scale))))))
    sigma = rng.uniform(0.45, 1.0) if r < 0.8 else rng.uniform(1.0, 2.0)
    out = cv2.GaussianBlur(out, (0, 0), sigmaX=float(sigma * scale))

    # Sensor: vignetting, luminance noise and blotchy (demosaiced) chroma noise.
    if rng.random() < 0.35:
        ys, xs = np.ogrid[-1.0:1.0:size * 1j, -1.0:1.0:size * 1j]
        light = (1.0 - rng.uniform(0.1, 0.4) * (xs * xs + ys * ys) / 2.0).astype(np.float32)
        out = (out * light[..., None] + 0.5).astype(np.uint8)
    sigma = rng.uniform(1.0, 9.0)
    quarter = (size + 3) // 4
    chroma = cv2.resize(_noise(rng, (quarter, quarter, 3), 0.5 * sigma), (size, size))
    out = cv2.add(out, chroma + _noise(rng, (size, size, 1), sigma), dtype=cv2.CV_8U)

    if rng.random() < 0.75:
        quality = int(rng.integers(30, 96))
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            out = cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out
