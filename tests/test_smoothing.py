"""The One-Euro filter on keypoints: still stays still, noise shrinks, steps are followed, and
scaling the hand scales the result and nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from handpose.evaluation.video import jitter
from handpose.inference.smoothing import OneEuroFilter, OneEuroParams, hand_size
from handpose.skeleton import NUM_JOINTS


def hand(size: float = 100.0, seed: int = 0) -> np.ndarray:
    """21 keypoints spread over a ``size``-pixel hand around (300, 200)."""
    return np.array([300.0, 200.0]) + size * np.random.default_rng(seed).uniform(-0.5, 0.5, (NUM_JOINTS, 2))


def filtered(frames: np.ndarray, params: OneEuroParams | None = None, frame_rate: float = 30.0) -> np.ndarray:
    smoother = OneEuroFilter(params, frame_rate)
    return np.stack([smoother(frame) for frame in frames])


def test_a_constant_signal_stays_exactly_constant():
    frames = np.repeat(hand()[None], 40, axis=0)
    np.testing.assert_array_equal(filtered(frames), frames)


def test_noise_on_a_still_hand_is_cut_fivefold_in_jitter_and_halved_in_spread():
    truth = hand()
    size = hand_size(truth)
    noisy = truth + np.random.default_rng(1).normal(0.0, 0.02 * size, (300, NUM_JOINTS, 2))  # 2% of the hand
    out = filtered(noisy)[30:]  # past the start, where the filter has no history yet
    assert jitter(out) < jitter(noisy[30:]) / 5
    assert np.std(out - truth) < 0.5 * np.std(noisy[30:] - truth)


def test_a_jump_of_a_quarter_hand_is_followed_within_3_frames():
    start = hand()
    jump = 0.25 * hand_size(start)
    smoother = OneEuroFilter()
    for _ in range(30):
        smoother(start)
    moved = start + jump
    remaining = [np.abs(smoother(moved) - moved).max() / jump for _ in range(3)]
    assert remaining[0] > 0.1  # it does smooth the step...
    assert remaining[-1] < 0.1  # ...and has caught up after 3 frames (100 ms at 30 fps)


def test_scaling_the_hand_scales_the_output_and_nothing_else():
    rng = np.random.default_rng(2)
    path = np.cumsum(rng.normal(0.0, 0.03, (60, 1, 2)), axis=0)  # a wandering hand, in hand sizes
    small = hand(20.0) + 20.0 * (path + rng.normal(0.0, 0.02, (60, NUM_JOINTS, 2)))  # a 20-pixel hand
    for factor in (0.25, 10.0):  # 5 to 200 pixels
        np.testing.assert_allclose(filtered(small * factor), filtered(small) * factor, rtol=1e-9, atol=1e-9)


def test_timestamps_give_the_frame_rate_s_result_and_a_dropped_frame_smooths_less():
    rng = np.random.default_rng(3)
    frames = hand() + rng.normal(0.0, 2.0, (10, NUM_JOINTS, 2))
    by_rate = filtered(frames, frame_rate=30.0)
    smoother = OneEuroFilter(frame_rate=1000.0)  # ignored where timestamps are given
    by_time = np.stack([smoother(frame, timestamp=1.0 + i / 30.0) for i, frame in enumerate(frames)])
    np.testing.assert_allclose(by_time, by_rate, rtol=1e-12)
    smoother = OneEuroFilter()
    smoother(frames[0], timestamp=0.0)
    after_gap = smoother(frames[1], timestamp=3 / 30.0)  # two frames dropped: more time, more weight
    assert np.abs(after_gap - frames[1]).mean() < np.abs(by_rate[1] - frames[1]).mean()
    with pytest.raises(ValueError, match="increase"):
        smoother(frames[2], timestamp=3 / 30.0)


def test_reset_forgets_and_bad_settings_are_refused():
    smoother = OneEuroFilter()
    smoother(hand())
    smoother.reset()
    np.testing.assert_array_equal(smoother(hand(seed=5)), hand(seed=5))  # the first call after a reset is its input
    for bad in ({"min_cutoff": 0.0}, {"beta": -1.0}, {"d_cutoff": float("nan")}):
        with pytest.raises(ValueError):
            OneEuroParams(**bad)
    with pytest.raises(ValueError, match="frame_rate"):
        OneEuroFilter(frame_rate=0.0)
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        smoother(np.zeros((NUM_JOINTS, 3)))
