"""Whole-image evaluation: the Predictor finds the hands itself, as ``handpose predict`` does.

This scores the whole pipeline a user runs, not only the keypoint model: each annotated image goes
through :class:`~handpose.inference.predictor.Predictor` without its boxes; the annotations only
score. Each annotated hand takes the nearest unclaimed predicted hand of its image (by box centre,
greedily, closest pairs first); a hand left without one counts as a miss, with NaN keypoints.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from handpose.estimators import Estimator
from handpose.inference.predictor import Predictor
from handpose.skeleton import NUM_JOINTS
from handpose.structures import HandPrediction, HandSample


def predict_whole_images(
    estimator: Estimator,
    samples: Sequence[HandSample],
    finder: str = "auto",
    detector: str | Path | None = None,
    progress: bool = True,
    predictor_options: dict | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Keypoints (N, 21, 2) and scores (N, 21) per sample from the Predictor on whole images
    (``finder``, ``detector`` and ``predictor_options``, e.g. the test-time options, as
    :class:`Predictor` takes them), and the figures of :func:`collect_matches` with the finder,
    the keypoint spread and the test-time views the Predictor used."""
    predictor = Predictor(estimator=estimator, finder=finder, detector=detector, **(predictor_options or {}))
    groups = image_groups(samples)
    found = [
        predictor(samples[indices[0]].load_image())
        for indices in tqdm(groups, desc="whole-image prediction", unit="image", disable=not progress)
    ]
    keypoints, scores, figures = collect_matches(samples, groups, found)
    views = [list(view) for view in predictor.tta_views]  # (scale, rotation) of each view of a final crop
    return keypoints, scores, {
        "finder": predictor.finder, "keypoint_spread": predictor.keypoint_spread, "test_time_views": views, **figures
    }


def collect_matches(
    samples: Sequence[HandSample], groups: Sequence[list[int]], found: Sequence[Sequence[HandPrediction]]
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Keypoints (N, 21, 2) and scores (N, 21) per sample from the hands ``found`` in each image
    (one list per group of :func:`image_groups`), matched by :func:`match_hands` (NaN: missed),
    and figures of the finding itself: images, hands found, predicted hands no annotated hand
    took (false positives) per image, how often the side found is the annotated one (over
    ``side_checked`` hands whose side both know), and how many predicted hands each finder gave
    (``hands_by_finder``: the ``auto`` finder's detections and close-ups apart)."""
    keypoints = np.full((len(samples), NUM_JOINTS, 2), np.nan)
    scores = np.zeros((len(samples), NUM_JOINTS))
    side_checks: list[bool] = []
    unmatched = 0
    by_finder = Counter(hand.finder for hands in found for hand in hands)
    for indices, hands in zip(groups, found, strict=True):
        matched = match_hands(samples, indices, hands)
        unmatched += len(hands) - len(matched)
        for index, prediction in matched:
            keypoints[index], scores[index] = prediction.keypoints, prediction.keypoint_scores
            if samples[index].hand_side is not None and prediction.hand_side is not None:
                side_checks.append(prediction.hand_side == samples[index].hand_side)
    figures = {
        "images": len(groups),
        "hands_found": int(np.isfinite(keypoints).all(axis=(1, 2)).sum()),
        "unmatched_predictions_per_image": unmatched / len(groups) if groups else float("nan"),
        "hand_side_agreement": float(np.mean(side_checks)) if side_checks else None,
        "side_checked": len(side_checks),
        "hands_by_finder": dict(sorted(by_finder.items())),
    }
    return keypoints, scores, figures


def image_groups(samples: Sequence[HandSample]) -> list[list[int]]:
    """Sample indices grouped by the image they are in, in order of first appearance."""
    groups: dict[object, list[int]] = {}
    for index, sample in enumerate(samples):
        key = sample.image if isinstance(sample.image, Path) else id(sample.image)
        groups.setdefault(key, []).append(index)
    return list(groups.values())


def match_hands(
    samples: Sequence[HandSample], indices: list[int], found: list[HandPrediction]
) -> list[tuple[int, HandPrediction]]:
    """Annotated hands (``indices`` into ``samples``) paired with predicted ones of the same image:
    closest box centres first, each used once; unpaired annotated hands are left out (misses)."""
    centre = lambda box: (np.asarray(box[:2]) + np.asarray(box[2:])) / 2.0
    pairs = sorted(
        (float(np.linalg.norm(centre(samples[i].box) - centre(p.box))), i, j)
        for i in indices for j, p in enumerate(found)
    )
    taken_samples: set[int] = set()
    taken_predictions: set[int] = set()
    matched = []
    for _, i, j in pairs:
        if i not in taken_samples and j not in taken_predictions:
            taken_samples.add(i)
            taken_predictions.add(j)
            matched.append((i, found[j]))
    return matched
