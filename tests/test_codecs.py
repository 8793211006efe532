import math

import numpy as np
import pytest
import torch

from handpose.codecs import (
    GaussianHeatmapCodec,
    HeatmapGrid,
    decode_argmax,
    decode_dark,
    decode_quarter,
    decode_soft_argmax,
)

HEATMAP = 32  # heatmap side for the round trips: small keeps the tests fast


def random_keypoints(stride: int, batch: int = 4, seed: int = 0) -> np.ndarray:
    """Sub-pixel keypoints at least 8 heatmap pixels (4 sigma) away from the border."""
    rng = np.random.default_rng(seed)
    margin = 8 * stride
    return rng.uniform(margin, HEATMAP * stride - margin, size=(batch, 21, 2))


def round_trip_errors(decoder: str, stride: int, unit_peak: bool = False) -> np.ndarray:
    codec = GaussianHeatmapCodec(HEATMAP * stride, HEATMAP, sigma=2.0, unit_peak=unit_peak, decoder=decoder)
    keypoints = random_keypoints(stride)
    encoded = codec.encode(keypoints, np.full(keypoints.shape[:-1], 2))
    decoded, _ = codec.decode(encoded["heatmaps"])
    return np.linalg.norm(decoded - keypoints, axis=-1)


def test_grid_maps_heatmap_pixel_centres_to_the_centre_of_their_input_block():
    grid = HeatmapGrid.from_sizes(256, 64)
    # Heatmap pixel 0 covers input pixels 0..3, whose centres average to 1.5.
    assert np.allclose(grid.to_input(np.array([0.0, 0.0])), [1.5, 1.5])
    assert np.allclose(grid.to_input(np.array([10.0, 7.0])), [41.5, 29.5])
    # The top-left corner of the image is the top-left corner of the heatmap.
    assert np.allclose(grid.to_heatmap(np.array([-0.5, -0.5])), [-0.5, -0.5])
    points = np.array([[3.2, 100.7], [255.4, 0.0]])
    assert np.allclose(grid.to_input(grid.to_heatmap(points)), points)
    assert np.allclose(HeatmapGrid.from_sizes(64, 64).to_heatmap(points), points)


def test_grid_handles_different_strides_per_axis():
    grid = HeatmapGrid.from_sizes((192, 128), (48, 64))
    assert np.allclose(grid.stride, [4.0, 2.0])
    assert np.allclose(grid.to_input(np.array([1.0, 1.0])), [5.5, 2.5])


@pytest.mark.parametrize("bad", [0, -4, 2.5, (64, 0), (64, 64, 3)])
def test_grid_rejects_sizes_that_are_not_positive_ints(bad):
    with pytest.raises(ValueError, match="input_size"):
        HeatmapGrid.from_sizes(bad, 16)


def test_encode_puts_the_peak_on_the_heatmap_pixel_under_the_keypoint():
    codec = GaussianHeatmapCodec(256, 64, sigma=2.0)
    keypoints = np.zeros((21, 2))
    keypoints[3] = [41.5, 29.5]  # the centre of heatmap pixel (x=10, y=7)
    encoded = codec.encode(keypoints, np.full(21, 2))
    heatmap = encoded["heatmaps"][3]
    assert heatmap.shape == (64, 64) and heatmap.dtype == np.float32
    assert heatmap[7, 10] == 1.0
    assert np.unravel_index(heatmap.argmax(), heatmap.shape) == (7, 10)
    # One heatmap pixel away: exp(-1 / (2 sigma^2)); one pixel diagonally: exp(-2 / (2 sigma^2)).
    assert heatmap[7, 11] == pytest.approx(math.exp(-1 / 8), rel=1e-6)
    assert heatmap[6, 9] == pytest.approx(math.exp(-2 / 8), rel=1e-6)
    decoded, scores = GaussianHeatmapCodec(256, 64, decoder="argmax").decode(encoded["heatmaps"])
    assert np.allclose(decoded[3], [41.5, 29.5])
    assert scores[3] == 1.0


def test_unit_peak_scales_a_between_pixels_gaussian_to_exactly_one():
    keypoints = np.full((21, 2), 20.5)  # stride 1: half-way between pixel centres on both axes
    plain = GaussianHeatmapCodec(64, 64, sigma=2.0).encode(keypoints, np.full(21, 2))["heatmaps"]
    unit = GaussianHeatmapCodec(64, 64, sigma=2.0, unit_peak=True).encode(keypoints, np.full(21, 2))["heatmaps"]
    # Nearest pixel centres are 0.5 px away on each axis: peak exp(-(0.25 + 0.25) / 8).
    assert plain.max() == pytest.approx(math.exp(-0.5 / 8), rel=1e-6)
    assert np.all(unit.max(axis=(-2, -1)) == 1.0)
    assert np.allclose(unit, plain / plain.max())


def test_unlabelled_and_off_heatmap_joints_get_zero_maps_and_weights():
    codec = GaussianHeatmapCodec(128, 32, sigma=2.0)
    keypoints = np.full((21, 2), 60.0)
    visibility = np.full(21, 2)
    visibility[4] = 0
    visibility[5] = 1  # occluded but labelled: still a target
    keypoints[6] = [130.0, 60.0]  # beyond the right edge
    keypoints[7] = [-1.0, 60.0]  # beyond the left edge (the image starts at -0.5)
    keypoints[8] = np.nan  # unlabelled joints may carry NaN
    visibility[8] = 0
    encoded = codec.encode(keypoints, visibility)
    expected_weights = np.ones(21, dtype=np.float32)
    expected_weights[[4, 6, 7, 8]] = 0
    assert encoded["weights"].dtype == np.float32
    assert np.array_equal(encoded["weights"], expected_weights)
    peaks = encoded["heatmaps"].max(axis=(-2, -1))
    assert np.all(peaks[[4, 6, 7, 8]] == 0)
    assert np.all(peaks[expected_weights == 1] > 0.9)
    assert np.isfinite(encoded["heatmaps"]).all()


@pytest.mark.parametrize("stride", [1, 2, 4])
@pytest.mark.parametrize("decoder", ["dark", "soft_argmax"])
def test_sub_pixel_decoders_recover_keypoints_within_five_hundredths_of_a_pixel(decoder, stride):
    assert round_trip_errors(decoder, stride).max() < 0.05
    assert round_trip_errors(decoder, stride, unit_peak=True).max() < 0.05


@pytest.mark.parametrize("stride", [1, 2, 4, 8])
def test_argmax_error_is_at_most_half_a_heatmap_pixel_diagonal(stride):
    errors = round_trip_errors("argmax", stride)
    assert errors.max() <= 0.5 * stride * math.sqrt(2) + 1e-4
    assert errors.mean() > 0.1 * stride  # sub-pixel keypoints: argmax really is quantised


@pytest.mark.parametrize("stride", [1, 4])
def test_quarter_offset_beats_argmax_on_average(stride):
    assert round_trip_errors("quarter", stride).mean() < 0.75 * round_trip_errors("argmax", stride).mean()


def test_decoders_work_directly_on_heatmap_pixels():
    heatmap = np.zeros((5, 5))
    heatmap[2, 2] = 1.0
    heatmap[2, 3] = 0.5  # right neighbour higher than the left one
    heatmap[1, 2] = 0.2  # upper neighbour higher than the lower one
    coords, scores = decode_argmax(heatmap)
    assert np.array_equal(coords, [2.0, 2.0]) and scores == 1.0
    coords, _ = decode_quarter(heatmap)
    assert np.allclose(coords, [2.25, 1.75])
    # Soft-argmax: weighted mean of x = (2 * 1.2 + 3 * 0.5) / 1.7 and of y = (1 * 0.2 + 2 * 1.5) / 1.7.
    coords, _ = decode_soft_argmax(heatmap, sigma=1.0)
    assert np.allclose(coords, [3.9 / 1.7, 3.2 / 1.7])


def test_quarter_leaves_edge_pixels_alone():
    heatmap = np.zeros((4, 4))
    heatmap[0, 3] = 1.0
    heatmap[0, 2] = 0.9
    heatmap[1, 3] = 0.9
    coords, _ = decode_quarter(heatmap)
    assert np.array_equal(coords, [3.0, 0.0])


def test_dark_recovers_an_exact_gaussian_with_and_without_smoothing():
    ys, xs = np.mgrid[0:16, 0:16]
    centre = (7.3, 8.65)
    heatmap = np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * 1.5**2))
    for sigma in (0.0, 1.5):
        coords, scores = decode_dark(heatmap, sigma=sigma)
        assert np.allclose(coords, centre, atol=1e-3)
        assert scores == heatmap.max()


def test_dark_keeps_the_argmax_of_a_flat_map():
    coords, scores = decode_dark(np.zeros((2, 8, 8)))
    assert np.array_equal(coords, np.zeros((2, 2))) and np.array_equal(scores, [0.0, 0.0])


def test_dark_is_more_robust_to_noise_than_argmax():
    rng = np.random.default_rng(3)
    keypoints = random_keypoints(4, batch=8, seed=5)
    errors = {}
    for decoder in ("argmax", "dark"):
        codec = GaussianHeatmapCodec(128, 32, decoder=decoder)
        heatmaps = codec.encode(keypoints, np.full((8, 21), 2))["heatmaps"]
        noisy = heatmaps + rng.normal(0, 0.05, heatmaps.shape)
        errors[decoder] = np.linalg.norm(codec.decode(noisy)[0] - keypoints, axis=-1).mean()
    assert errors["dark"] < 0.5 * errors["argmax"]


@pytest.mark.parametrize("decoder", ["argmax", "quarter", "dark", "soft_argmax"])
def test_batched_decode_equals_per_sample_and_torch_equals_numpy(decoder):
    codec = GaussianHeatmapCodec((96, 64), (48, 32), sigma=2.0, decoder=decoder)
    keypoints = np.random.default_rng(1).uniform(10, 60, size=(3, 21, 2))
    visibility = np.full((3, 21), 2)
    batched = codec.encode(keypoints, visibility)
    assert batched["heatmaps"].shape == (3, 21, 32, 48)
    noise = np.random.default_rng(2).uniform(0, 0.02, batched["heatmaps"].shape)
    noisy = batched["heatmaps"] + noise.astype(np.float32)
    batch_keypoints, batch_scores = codec.decode(noisy)
    assert batch_keypoints.dtype == np.float32 and batch_scores.dtype == np.float32
    for i in range(3):
        single = codec.encode(keypoints[i], visibility[i])
        assert np.array_equal(single["heatmaps"], batched["heatmaps"][i])
        assert np.array_equal(single["weights"], batched["weights"][i])
        keypoints_i, scores_i = codec.decode(noisy[i])
        assert np.allclose(keypoints_i, batch_keypoints[i]) and np.allclose(scores_i, batch_scores[i])
    torch_keypoints, torch_scores = codec.decode(torch.from_numpy(noisy))
    assert isinstance(torch_keypoints, np.ndarray)
    assert np.array_equal(torch_keypoints, batch_keypoints) and np.array_equal(torch_scores, batch_scores)
    assert np.allclose(batch_scores, noisy.max(axis=(-2, -1)))


def test_codec_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown heatmap decoder"):
        GaussianHeatmapCodec(64, 16, decoder="median")
    with pytest.raises(ValueError, match="sigma"):
        GaussianHeatmapCodec(64, 16, sigma=0)
    codec = GaussianHeatmapCodec(64, 16)
    with pytest.raises(ValueError, match="16, 16"):
        codec.decode(np.zeros((21, 32, 32)))
    with pytest.raises(ValueError, match="visibility"):
        codec.encode(np.zeros((21, 2)), np.ones(20))
