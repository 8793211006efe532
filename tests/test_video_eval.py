"""Jitter and the sequence evaluation, against hand calculations: a fake tracker returns the ground
truth with a known offset (or noise), read off the frame's pixels."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from handpose.evaluation.video import accelerations, evaluate_sequences, jitter
from handpose.inference.smoothing import OneEuroFilter
from handpose.metrics import PCK_RANGE_2D_PX, auc
from handpose.skeleton import NUM_JOINTS
from handpose.structures import HandPrediction, keypoint_box

SHAPE = np.random.default_rng(0).uniform(-15.0, 15.0, (NUM_JOINTS, 2))


def test_jitter_is_the_mean_second_difference():
    t = np.arange(6, dtype=np.float64)
    accelerating = SHAPE + np.stack([0.5 * t**2, np.zeros_like(t)], axis=-1)[:, None, :]  # 1 px/frame^2 along x
    assert jitter(accelerating) == pytest.approx(1.0)
    shaking = SHAPE + np.array([3.0, 4.0]) * (-1.0) ** t[:, None, None]  # +-5 px: |(1 + 2 + 1) * 5|
    assert jitter(shaking) == pytest.approx(20.0)
    assert jitter(SHAPE[None].repeat(2, axis=0)) != jitter(SHAPE[None].repeat(2, axis=0))  # NaN: no triple


def test_missing_joints_and_uneven_gaps_leave_out_only_their_triples():
    t = np.arange(7, dtype=np.float64)
    x = SHAPE + np.stack([0.5 * t**2, np.zeros_like(t)], axis=-1)[:, None, :]
    x[3, 0] = np.nan  # joint 0 missing in frame 3: its triples centred on 2, 3 and 4 go
    values = accelerations(x)
    assert np.isnan(values[1:4, 0]).all() and np.isfinite(values[[0, 4], 0]).all() and np.isfinite(values[:, 1:]).all()
    assert jitter(x) == pytest.approx(1.0)
    frames = np.array([0, 6, 12, 18, 36, 42, 48])  # a gap of 18 between 18 and 36
    values = accelerations(x, frames)
    assert np.isnan(values[2:4]).all() and np.isfinite(values[[0, 4], 1:]).all()
    with pytest.raises(ValueError, match="time order"):
        accelerations(x, frames[::-1])


def write_sequences(root: Path, sequences: dict[str, tuple[str, list[int]]], accel: float) -> dict[int, np.ndarray]:
    """A COCO-style file of 256x256 frames whose pixel (0, 0) holds the image id; the hand's
    keypoints move along x with ``accel`` px per step^2 (step: 6 frames). Images are listed
    shuffled. Returns the ground truth by image id."""
    images, annotations, truth = [], [], {}
    for name, (subject, frame_indices) in sequences.items():
        for frame_index in frame_indices:
            image_id = len(images)
            step = (frame_index - frame_indices[0]) / 6.0
            keypoints = np.array([100.0, 80.0]) + SHAPE + [0.5 * accel * step**2, 0.0]
            truth[image_id] = keypoints
            pixels = np.zeros((256, 256, 3), dtype=np.uint8)
            pixels[0, 0] = image_id
            cv2.imwrite(str(root / f"{image_id}.png"), pixels)
            images.append(
                {
                    "id": image_id,
                    "file_name": f"{image_id}.png",
                    "width": 256,
                    "height": 256,
                    "sequence": name,
                    "frame_index": frame_index,
                    "subject": subject,
                }
            )
            x0, y0, x1, y1 = keypoint_box(keypoints)
            annotations.append(
                {
                    "id": image_id,
                    "image_id": image_id,
                    "category_id": 1,
                    "hand_type": "right",
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "keypoints": [[x, y, 2] for x, y in keypoints],
                }
            )
    order = np.random.default_rng(0).permutation(len(images))
    (root / "annotations.json").write_text(
        json.dumps({"images": [images[i] for i in order], "annotations": annotations})
    )
    return truth


class OffsetTracker:
    """The ground truth moved by ``offset * (-1) ** frame`` (shaking), or plus Gaussian noise,
    optionally One-Euro smoothed; no hand on the frames in ``missing``. Records the times seen."""

    def __init__(
        self,
        truth: dict[int, np.ndarray],
        offset: float = 0.0,
        noise: float = 0.0,
        smooth: bool = False,
        missing: tuple[int, ...] = (),
    ) -> None:
        self.truth, self.offset, self.noise, self.missing = truth, offset, noise, missing
        self.smoother = OneEuroFilter() if smooth else None
        self.rng = np.random.default_rng(1)
        self.times: list[float] = []

    def __call__(self, frame_rgb: np.ndarray, timestamp: float | None = None) -> list[HandPrediction]:
        assert timestamp is not None
        self.times.append(timestamp)
        image_id = int(frame_rgb[0, 0, 0])
        if image_id in self.missing:
            return []
        keypoints = self.truth[image_id] + [self.offset * (-1) ** len(self.times), 0.0]
        keypoints = keypoints + self.rng.normal(0.0, self.noise, keypoints.shape)
        if self.smoother is not None:
            keypoints = self.smoother(keypoints, timestamp)
        return [HandPrediction(box=keypoint_box(keypoints), keypoints=keypoints, keypoint_scores=np.ones(NUM_JOINTS))]


def test_sequences_are_run_in_time_order_with_a_new_tracker_each_and_scored_per_subject(tmp_path: Path):
    sequences = {
        "a0": ("A", list(range(0, 36, 6))),
        "a1": ("A", list(range(600, 636, 6))),
        "b0": ("B", list(range(60, 96, 6))),
    }
    truth = write_sequences(tmp_path, sequences, accel=1.0)
    trackers: list[OffsetTracker] = []

    def make_tracker() -> OffsetTracker:
        trackers.append(OffsetTracker(truth, offset=1.0))
        return trackers[-1]

    report = evaluate_sequences(make_tracker, tmp_path / "annotations.json", frame_rate=30.0)
    assert len(trackers) == 3 and report["sequences"] == 3 and report["frames"] == 18
    assert [t.times for t in trackers] == [[i / 30.0 for i in frames] for _, frames in sequences.values()]
    overall = report["overall"]
    # Ground truth accelerates 1 px/step^2; the +-1 px shake adds +-4: |1 + 4| and |1 - 4| alternate
    # over the 4 inner frames of each sequence.
    assert overall["gt_jitter"] == pytest.approx(1.0)
    assert overall["jitter"] == pytest.approx(4.0)
    assert overall["jitter_triples"] == 12
    assert overall["epe_mean"] == pytest.approx(1.0) and overall["found"] == overall["hands"] == 18
    assert overall["auc"] == pytest.approx(auc(np.ones(18 * NUM_JOINTS), *PCK_RANGE_2D_PX))
    assert set(report["subjects"]) == {"A", "B"} and report["subjects"]["A"]["hands"] == 12
    assert report["ms_per_frame"] >= 0.0
    assert evaluate_sequences(make_tracker, tmp_path / "annotations.json", limit_sequences=1)["sequences"] == 1


def test_a_missed_frame_is_a_miss_and_drops_its_triples(tmp_path: Path):
    truth = write_sequences(tmp_path, {"a": ("A", list(range(0, 60, 6)))}, accel=0.0)
    report = evaluate_sequences(lambda: OffsetTracker(truth, missing=(4,)), tmp_path / "annotations.json")
    overall = report["overall"]
    assert overall["found"] == 9 and overall["hands"] == 10
    assert overall["jitter_triples"] == 8 - 3  # the triples centred on frames 3, 4 and 5 are gone
    assert overall["auc"] == pytest.approx(0.9)  # exact keypoints, one frame of ten missed
    assert overall["epe_mean"] == pytest.approx(0.0, abs=1e-9)


def test_smoothing_reduces_the_jitter_of_a_noisy_tracker(tmp_path: Path):
    """A still 30-pixel hand, keypoint noise of 0.5 px (2% of it), every 6th frame of a 30 fps
    video as on the real dev set: the default One-Euro filter cuts the jitter more than twofold."""
    truth = write_sequences(tmp_path, {"still": ("A", list(range(0, 240, 6)))}, accel=0.0)
    raw = evaluate_sequences(lambda: OffsetTracker(truth, noise=0.5), tmp_path / "annotations.json")["overall"]
    smooth = evaluate_sequences(lambda: OffsetTracker(truth, noise=0.5, smooth=True), tmp_path / "annotations.json")[
        "overall"
    ]
    assert raw["gt_jitter"] == smooth["gt_jitter"] == pytest.approx(0.0)
    assert smooth["jitter"] < raw["jitter"] / 2
