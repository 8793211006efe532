"""The domain-gap augmentations: grey images, random erasing, Fourier amplitude mixing (FDA),
random convolutions (RandConv).

Each changes the image when on; off (the default) it draws nothing, so every other random draw
and the output stay as they were.
"""

from dataclasses import replace

import cv2
import numpy as np
import pytest

from handpose.data import augment
from handpose.data.augment import (
    AugmentConfig,
    _band,
    _low_spectrum,
    fourier_mix,
    photometric,
    random_convolution_mix,
)

SIZE = 128
#: Every older change off, so that what is left is the new change alone.
STILL = AugmentConfig(brightness=0, contrast=0, saturation=0, hue=0, blur_probability=0, noise_std=0)
HAND_BOX = np.array([30.0, 20.0, 100.0, 110.0])


def _image(seed: int = 0, blur: float = 2.0) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), blur)


def _legacy_draws(rng: np.random.Generator, cfg: AugmentConfig) -> None:
    """The random draws photometric made before the domain-gap changes existed."""
    for _ in range(4):  # brightness, contrast, saturation, hue
        rng.uniform()
    if rng.random() < cfg.blur_probability:
        rng.uniform(*cfg.blur_sigma)
    rng.integers(2**31)


@pytest.mark.parametrize("cfg", [AugmentConfig(), AugmentConfig(blur_probability=1.0), STILL])
def test_off_they_draw_nothing_and_change_nothing(cfg):
    image = _image()
    for seed in range(5):
        rng, legacy = np.random.default_rng(seed), np.random.default_rng(seed)
        out = photometric(image, cfg, rng, hand_box=HAND_BOX)
        _legacy_draws(legacy, cfg)
        assert rng.bit_generator.state == legacy.bit_generator.state
        other_settings = replace(cfg, random_erasing_area=(0.1, 0.5), fourier_beta=0.2)  # still off
        again = photometric(image, other_settings, np.random.default_rng(seed))  # no box needed when off
        np.testing.assert_array_equal(out, again)


def test_grayscale_makes_the_channels_equal():
    out = photometric(_image(), replace(STILL, grayscale_probability=1.0), np.random.default_rng(0))
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    assert not np.array_equal(out, _image())


def test_random_erasing_covers_part_of_the_hand_box_only():
    image = _image()
    cfg = replace(STILL, random_erasing_probability=1.0, random_erasing_area=(0.05, 0.2))
    box_area = (HAND_BOX[2] - HAND_BOX[0]) * (HAND_BOX[3] - HAND_BOX[1])
    fills = set()
    for seed in range(40):
        out = photometric(image, cfg, np.random.default_rng(seed), hand_box=HAND_BOX)
        ys, xs = np.nonzero(np.any(out != image, axis=-1))
        assert len(ys) > 0
        height, width = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert height * width <= 0.2 * box_area
        assert xs.min() <= HAND_BOX[2] and xs.max() >= HAND_BOX[0] and ys.min() <= HAND_BOX[3] and ys.max() >= HAND_BOX[1]
        patch = out[ys.min():ys.max() + 1, xs.min():xs.max() + 1].reshape(-1, 3)
        fills.add("colour" if len(np.unique(patch, axis=0)) == 1 else "noise")
    assert fills == {"colour", "noise"}


def test_random_erasing_needs_the_hand_box():
    with pytest.raises(ValueError, match="random_erasing_probability > 0 needs hand_box"):
        photometric(_image(), replace(STILL, random_erasing_probability=0.5), np.random.default_rng(0))


class _OnePhoto:
    """A photo pool of one picture."""

    def __init__(self, photo: np.ndarray) -> None:
        self.photo = photo

    def __len__(self) -> int:
        return 1

    def image(self, index: int) -> np.ndarray:
        return self.photo


@pytest.fixture
def red_photo_pool(monkeypatch):
    monkeypatch.setattr(augment, "_photos", lambda: _OnePhoto(np.full((300, 400, 3), (220, 40, 40), np.uint8)))
    augment._photo_amplitude.cache_clear()
    yield
    augment._photo_amplitude.cache_clear()


def _details(image: np.ndarray) -> np.ndarray:
    return (image.astype(float) - cv2.GaussianBlur(image, (0, 0), 8).astype(float)).ravel()


def test_fourier_mixing_moves_colours_towards_the_photo_and_keeps_the_details(red_photo_pool):
    image = _image(blur=1.0)
    cfg = replace(STILL, fourier_mix_probability=1.0)
    shifts = []
    for seed in range(8):
        out = photometric(image, cfg, np.random.default_rng(seed))
        shifts.append(out.reshape(-1, 3).mean(axis=0) - image.reshape(-1, 3).mean(axis=0))
        assert np.corrcoef(_details(image), _details(out))[0, 1] > 0.9  # the phase, and so the shapes, stay
    shifts = np.array(shifts)
    assert np.all(shifts[:, 0] > 0) and np.all(shifts[:, 2] < 0)  # towards the red photo, by a random weight
    assert shifts[:, 0].max() > 30 and shifts[:, 0].min() < shifts[:, 0].max() / 2


def test_fourier_mixing_draws_from_the_generator_photo_pool():
    image = _image(blur=1.0)
    out = photometric(image, replace(STILL, fourier_mix_probability=1.0), np.random.default_rng(1))
    assert out.shape == image.shape and out.dtype == np.uint8 and not np.array_equal(out, image)


def test_fourier_mix_is_fda():
    """The band-limited computation equals FDA's whole-spectrum one (Yang & Soatto's code swaps
    the centred low-frequency square of the amplitude and inverts the FFT)."""
    source, target = _image(2, blur=1.5), _image(3, blur=4.0)
    band, weight = _band(source.shape[:2], 0.05), 0.7
    ours = fourier_mix(source, np.abs(_low_spectrum(target, band)), weight)
    window = np.ix_(np.arange(-band, band + 1) % SIZE, np.arange(-band, band + 1) % SIZE)
    channels = []
    for c in range(3):
        spectrum, other = np.fft.fft2(source[..., c].astype(float)), np.fft.fft2(target[..., c].astype(float))
        amplitude, phase = np.abs(spectrum), np.angle(spectrum)
        amplitude[window] = (1 - weight) * amplitude[window] + weight * np.abs(other)[window]
        channels.append(np.fft.ifft2(amplitude * np.exp(1j * phase)).real)
    reference = np.clip(np.stack(channels, axis=-1) + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(ours.astype(int) - reference).max() <= 1
    np.testing.assert_array_equal(fourier_mix(source, np.abs(_low_spectrum(target, band)), 0.0), source)


def _edges(image: np.ndarray) -> np.ndarray:
    grey = image.astype(np.float32).mean(axis=2)
    return np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)).ravel()


def test_random_convolution_redraws_colours_and_keeps_the_shapes():
    """A disc on a plain ground: the crop's colours change from draw to draw, its outline stays
    where it was (its edges match the disc's far better than those of the disc moved), and its
    exposure stays near the crop's own."""
    image = np.full((SIZE, SIZE, 3), (40, 90, 160), np.uint8)
    moved = image.copy()
    cv2.circle(image, (60, 70), 30, (220, 170, 140), -1)
    cv2.circle(moved, (75, 55), 30, (220, 170, 140), -1)
    cfg = replace(STILL, random_convolution_probability=1.0)
    colours = []
    for seed in range(8):
        out = photometric(image, cfg, np.random.default_rng(seed))
        assert out.shape == image.shape and out.dtype == np.uint8
        stays, moves = (np.corrcoef(_edges(disc), _edges(out))[0, 1] for disc in (image, moved))
        assert stays > 0.3 and moves < 0.1
        assert abs(out.mean() - image.mean()) < 25  # each channel keeps the crop's mean
        colours.append(out[70, 60].astype(float) - out[10, 10].astype(float))  # disc against ground
    assert np.ptp(np.array(colours), axis=0).max() > 40  # the contrast's colour differs between draws


def test_random_convolution_blend_weight_one_is_the_image_itself():
    image = _image()
    kernel = np.random.default_rng(0).normal(size=(3, 3, 5, 5))
    np.testing.assert_array_equal(random_convolution_mix(image, kernel, 1.0), image)
    assert not np.array_equal(random_convolution_mix(image, kernel, 0.0), image)


@pytest.mark.parametrize(
    "field, value",
    [
        ("random_convolution_probability", 1.2),
        ("grayscale_probability", 1.5),
        ("grayscale_probability", -0.1),
        ("random_erasing_probability", 2.0),
        ("random_erasing_area", (0.0, 0.2)),
        ("random_erasing_area", (0.3, 0.2)),
        ("random_erasing_area", (0.1, 1.5)),
        ("fourier_mix_probability", -1.0),
        ("fourier_beta", 0.0),
        ("fourier_beta", 0.5),
    ],
)
def test_bad_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=f"AugmentConfig.{field} must"):
        AugmentConfig(**{field: value})
