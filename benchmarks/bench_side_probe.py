"""Which side does a crop show? Keypoint scores against a linear read-out of the network.

The pose networks see right hands only, so where no one gives a hand's side the Predictor runs its
crop as it is and mirrored and keeps one orientation, which is the side ``handpose predict``
reports (:meth:`handpose.inference.predictor.Predictor._both_orientations`). A palm and the back of
the other hand have the same outline, so the choice rests on the network telling them apart by
their look. Without a side head the Predictor keeps the orientation of higher mean keypoint score.

This measures that rule against a linear probe: a logistic regression on the network's own pooled
maps (:func:`handpose.models.side_head.pooled_maps`), fitted here on synthetic crops only (3,000
hands of seed 1, each as it is and mirrored, the label swapped; what ``handpose side-head`` fits),
the network frozen; and, where the weights have one, against their own side head. All are scored
on annotated boxes with the side withheld, on the synthetic test split (seed 3) and, per subject,
on the real dev frames: how often the side is right, and the AUC 0-30 px of the keypoints of the
chosen orientation (and of the true side's, for the ceiling). Nothing here trains on a real frame.

    .venv/bin/python benchmarks/bench_side_probe.py [WEIGHTS] [--json out.json]
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from handpose.data.augment import evaluation_crop_box
from handpose.data.readers import read_dataset
from handpose.estimators import Estimator
from handpose.evaluation.evaluate import score_predictions, subject_masks, write_json
from handpose.inference.crops import estimate_in_boxes
from handpose.inference.weights import load_estimator
from handpose.structures import HandSample
from handpose.synth.cache import prepare_synth_set
from handpose.train.side_head import add_side_head, synthetic_side_samples

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real" / "uci_hand" / "annotations.json"
BATCH = 32


def both_orientations(estimator: Estimator, samples: list[HandSample]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sample, for its box as it is and mirrored: the mean keypoint score (N, 2), the hand
    score (N, 2; a side head's probability that the crop shows a right hand) and the keypoints in
    image pixels (N, 2, 21, 2)."""
    boxes = [
        replace(evaluation_crop_box(sample, estimator.crop.padding, flip_to_right=False), flip=flip)
        for sample in samples for flip in (False, True)
    ]
    hands = estimate_in_boxes(estimator, lambda i: samples[i // 2].load_image(), boxes, batch_size=2 * BATCH)
    pairs = len(samples), 2
    scores = np.array([hand.score for hand in hands]).reshape(pairs)
    hand_scores = np.array([hand.hand_score for hand in hands]).reshape(pairs)
    return scores, hand_scores, np.stack([hand.keypoints for hand in hands]).reshape(*pairs, -1, 2)


def right_chosen(hand_scores: np.ndarray) -> np.ndarray:
    """Where the as-is crop is chosen by both crops' side heads, as the Predictor combines them."""
    return (hand_scores[:, 0] + 1 - hand_scores[:, 1]) / 2 >= 0.5


def scored(samples: list[HandSample], probe: tuple, own: np.ndarray | None, space: str) -> dict:
    """Side accuracy and AUC 0-30 px of the rule, the probe, the weights' own side head (``own``:
    its hand scores, where the weights have one) and the true side, on ``samples``; ``probe``:
    :func:`both_orientations` of the probe's estimator on them."""
    scores, probe_scores, keypoints = probe
    right = np.array([s.hand_side == "right" for s in samples])
    as_is_right = {"rule (higher mean score)": scores[:, 0] >= scores[:, 1], "linear probe": right_chosen(probe_scores)}
    if own is not None:
        as_is_right["the weights' side head"] = right_chosen(own)
    as_is_right["true side"] = right
    return {
        name: {
            "side_accuracy": float(np.mean(chosen == right)),
            "auc_0_30": score_predictions(samples, np.where(chosen[:, None, None], keypoints[:, 0], keypoints[:, 1]))[space]["pck"][0]["auc"],
        }
        for name, chosen in as_is_right.items()
    }


def scored_sets(
    estimator: Estimator, probe: Estimator, samples: list[HandSample]
) -> tuple[tuple[np.ndarray, ...], np.ndarray | None]:
    """:func:`both_orientations` of the probe and, where the weights have a side head, the weights'
    own hand scores, computed once for ``samples``."""
    own = both_orientations(estimator, samples)[1] if estimator.reads_side else None
    return both_orientations(probe, samples), own


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="?", default="default")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    estimator = load_estimator(args.weights)
    fit, _ = synthetic_side_samples(cache_dir=ROOT / "runs" / "cache")  # what handpose side-head fits on
    probe = copy.deepcopy(estimator)  # the same network with a side head fitted here
    add_side_head(probe, fit, progress=False)
    test = read_dataset("coco", prepare_synth_set(300, 3, 256, ROOT / "runs" / "cache")).samples
    results = {"synthetic test (crop px)": scored(test, *scored_sets(estimator, probe, test), "crop_pixels")}
    if REAL.is_file():
        real = read_dataset("coco", REAL).samples
        probed, own = scored_sets(estimator, probe, real)
        for subject, chosen in subject_masks(real).items():
            subset = [s for s, c in zip(real, chosen) if c]
            results[f"real {subject} (image px)"] = scored(
                subset, tuple(a[chosen] for a in probed), None if own is None else own[chosen], "image_pixels"
            )
    print("| set | side from | side right | AUC 0-30 px |\n|---|---|---|---|")
    for data, rows in results.items():
        for name, figures in rows.items():
            print(f"| {data} | {name} | {figures['side_accuracy']:.3f} | {figures['auc_0_30']:.3f} |")
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
