"""Video evaluation: accuracy and jitter of a tracker over annotated sequences.

A tracker sees the frames of a sequence in time order, as it would see a video, and is scored on
two things: accuracy per frame (EPE and the AUC of the PCK curve over 0-30 px, as every 2D figure
in handpose) and jitter, the mean frame-to-frame acceleration of the keypoints
(``||x[t+1] - 2 x[t] + x[t-1]||``, px/frame^2). Jitter is what a viewer sees as shaking keypoints:
a still hand should have none, and smooth motion little. Hand-placed labels shake too, so the
ground truth's jitter is reported beside the predictions': it is the floor a tracker can be
compared against, not zero.

Annotated sequences are often subsampled and have gaps (the real dev set labels every 6th video
frame, with a few longer gaps); an acceleration across uneven gaps would measure the gap, not the
keypoints, so :func:`accelerations` counts only triples of frames spaced by the sequence's own
step (its smallest gap), and the unit is px per step^2.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from handpose.data.readers import read_dataset
from handpose.evaluation.whole_image import match_hands
from handpose.metrics import PCK_RANGE_2D_PX, auc, keypoint_errors, mean_error
from handpose.skeleton import NUM_JOINTS
from handpose.structures import HandPrediction, HandSample


class Tracker(Protocol):
    """What is evaluated: a :class:`~handpose.inference.tracking.HandTracker`, or any callable
    that takes the frames of one video in order (RGB uint8, with their time in seconds)."""

    def __call__(self, frame_rgb: np.ndarray, timestamp: float | None = None) -> list[HandPrediction]: ...


def accelerations(keypoints_sequence: np.ndarray, frame_indices: np.ndarray | None = None) -> np.ndarray:
    """(T - 2, K) acceleration magnitude ``||x[t+1] - 2 x[t] + x[t-1]||`` of each joint at each
    inner frame of a (T, K, D) sequence; NaN where a joint is missing (NaN or infinite) in any of
    the three frames, and, given the frames' ``frame_indices`` (T,), where the two gaps are not
    both the sequence's step (its smallest gap)."""
    x = np.asarray(keypoints_sequence, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"expected a (T, K, D) keypoints sequence, got shape {x.shape}")
    x = np.where(np.isfinite(x), x, np.nan)
    if len(x) < 3:
        return np.empty((0, x.shape[1]))
    result = np.linalg.norm(x[2:] - 2.0 * x[1:-1] + x[:-2], axis=-1)
    if frame_indices is not None:
        frames = np.asarray(frame_indices)
        if frames.shape != (len(x),):
            raise ValueError(f"got {frames.shape} frame indices for {len(x)} frames; give one per frame")
        gaps = np.diff(frames)
        if np.any(gaps <= 0):
            raise ValueError("frame indices must increase: the frames are not in time order")
        even = (gaps[:-1] == gaps.min()) & (gaps[1:] == gaps.min())
        result[~even] = np.nan
    return result


def jitter(keypoints_sequence: np.ndarray, frame_indices: np.ndarray | None = None) -> float:
    """Mean acceleration magnitude (px/frame^2) over the joints and inner frames of a (T, K, D)
    keypoints sequence that :func:`accelerations` counts; NaN where none counts."""
    values = accelerations(keypoints_sequence, frame_indices)
    counted = values[np.isfinite(values)]
    return float(counted.mean()) if counted.size else float("nan")


def evaluate_sequences(
    make_tracker: Callable[[], Tracker],
    annotations_path: str | Path,
    *,
    frame_rate: float = 30.0,
    limit_sequences: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run a new tracker (``make_tracker()``) over each sequence of a COCO-style file whose images
    carry ``sequence`` and ``frame_index`` (and optionally ``subject``), frames in time order, and
    score it per subject and overall.

    ``frame_rate``: the rate of the video that ``frame_index`` counts; each frame is passed with
    timestamp ``frame_index / frame_rate`` seconds, so a smoothing filter sees the real time
    between subsampled frames. ``limit_sequences``: the first N sequences by name only. The frames
    are the annotated images; an annotated hand is matched to the nearest predicted hand of its
    frame (by box centre; :mod:`handpose.evaluation.whole_image`), one without one is a miss. A hand
    is followed through a sequence by its annotated side (so each frame may hold at most one
    annotated hand per side).

    Returns ``{"frames", "sequences", "frame_rate", "ms_per_frame", "units", "overall",
    "subjects": {subject: ...}}``; "overall" and each subject hold ``hands``, ``found``,
    ``epe_mean`` (px, over found hands), ``auc`` (misses count as wrong), ``jitter`` and
    ``gt_jitter`` (px/step^2; None where no triple of frames counts) and ``jitter_triples`` (hand
    and frame triples counted in ``jitter``).
    """
    sequences = frame_sequences(annotations_path, limit_sequences)
    names = list(sequences)
    if not names:
        raise ValueError(f"{annotations_path}: no sequences to evaluate")
    pred_of: dict[str, np.ndarray] = {}  # sample_id -> predicted keypoints
    series: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []  # (subject, frames, pred, gt)
    seconds = 0.0
    frame_count = 0
    for name in tqdm(names, desc="sequences", unit="sequence", disable=not progress):
        tracker = make_tracker()
        frames = sequences[name]
        for samples in frames:
            image = samples[0].load_image()
            start = time.perf_counter()
            found = tracker(image, timestamp=samples[0].extras["frame_index"] / frame_rate)
            seconds += time.perf_counter() - start
            frame_count += 1
            for index, prediction in match_hands(samples, list(range(len(samples))), found):
                pred_of[samples[index].sample_id] = prediction.keypoints
        series += _hand_series(frames, pred_of)
    hands = [sample for name in names for frame in sequences[name] for sample in frame]
    by_subject: dict[str, list[HandSample]] = defaultdict(list)
    for sample in hands:
        by_subject[str(sample.extras.get("subject"))].append(sample)
    return {
        "frames": frame_count,
        "sequences": len(names),
        "frame_rate": float(frame_rate),
        "ms_per_frame": 1000.0 * seconds / frame_count,
        "units": {
            "epe_mean": "px",
            "auc": f"PCK over {PCK_RANGE_2D_PX[0]:g}-{PCK_RANGE_2D_PX[1]:g} px in {PCK_RANGE_2D_PX[2]} steps",
            "jitter": "px per step^2, over frame triples spaced by the sequence's step",
        },
        "overall": _figures(hands, pred_of, series),
        "subjects": {
            subject: _figures(samples, pred_of, [s for s in series if s[0] == subject])
            for subject, samples in sorted(by_subject.items())
        },
    }


def frame_sequences(
    annotations_path: str | Path, limit_sequences: int | None = None
) -> dict[str, list[list[HandSample]]]:
    """The sequences :func:`evaluate_sequences` runs, in the order it runs them (by name, the first
    ``limit_sequences``): per sequence its frames in time order, each the list of the frame's
    annotated hands. Another runner (MediaPipe's tracking mode) feeds its frames in this order."""
    sequences = _sequences(read_dataset("coco", annotations_path).samples)
    return {name: sequences[name] for name in sorted(sequences)[:limit_sequences]}


def _sequences(samples: list[HandSample]) -> dict[str, list[list[HandSample]]]:
    """Per sequence, its frames in time order, each the list of the frame's annotated hands."""
    frames: dict[str, dict[int, list[HandSample]]] = defaultdict(lambda: defaultdict(list))
    for sample in samples:
        if "sequence" not in sample.extras or "frame_index" not in sample.extras:
            raise ValueError(f"sample {sample.sample_id!r}: its image has no 'sequence' and 'frame_index'")
        frames[str(sample.extras["sequence"])][int(sample.extras["frame_index"])].append(sample)
    for name, by_index in frames.items():
        for index, hands in by_index.items():
            if len({hand.extras["image_id"] for hand in hands}) > 1:
                raise ValueError(f"sequence {name!r}: two images share frame_index {index}")
    return {name: [by_index[i] for i in sorted(by_index)] for name, by_index in frames.items()}


def _hand_series(
    frames: list[list[HandSample]], pred_of: dict[str, np.ndarray]
) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """Each hand side of one sequence through time: (subject, frame indices, predicted and ground
    truth keypoints, NaN where not annotated, not labelled or not found)."""
    sides = {sample.hand_side for frame in frames for sample in frame}
    indices = np.array([frame[0].extras["frame_index"] for frame in frames])
    result = []
    for side in sides:
        pred = np.full((len(frames), NUM_JOINTS, 2), np.nan)
        gt = np.full((len(frames), NUM_JOINTS, 2), np.nan)
        for t, frame in enumerate(frames):
            hands = [sample for sample in frame if sample.hand_side == side]
            if len(hands) > 1:
                raise ValueError(
                    f"{hands[0].sample_id}: several annotated {side} hands in one frame; cannot follow them"
                )
            if hands:
                gt[t] = np.where(hands[0].labelled[:, None], hands[0].keypoints_2d, np.nan)
                pred[t] = pred_of.get(hands[0].sample_id, np.nan)
        result.append((str(frames[0][0].extras.get("subject")), indices, pred, gt))
    return result


def _figures(
    samples: list[HandSample],
    pred_of: dict[str, np.ndarray],
    series: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
) -> dict[str, Any]:
    pred = np.stack([pred_of.get(sample.sample_id, np.full((NUM_JOINTS, 2), np.nan)) for sample in samples])
    errors = keypoint_errors(pred, np.stack([s.keypoints_2d for s in samples]), np.stack([s.labelled for s in samples]))
    pred_acc = [accelerations(p, frames) for _, frames, p, _ in series]
    gt_acc = [accelerations(g, frames) for _, frames, _, g in series]
    return {
        "hands": len(samples),
        "found": sum(sample.sample_id in pred_of for sample in samples),
        "epe_mean": _or_none(mean_error(errors)),
        "auc": auc(errors, *PCK_RANGE_2D_PX),
        "jitter": _pooled_mean(pred_acc),
        "gt_jitter": _pooled_mean(gt_acc),
        "jitter_triples": int(sum(np.isfinite(a).any(axis=1).sum() for a in pred_acc)),
    }


def _pooled_mean(values: list[np.ndarray]) -> float | None:
    """Mean of the finite entries of all arrays (every counted joint acceleration weighs the same,
    whatever its sequence's length); None where there are none."""
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.empty(0)
    return float(finite.mean()) if finite.size else None


def _or_none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)
