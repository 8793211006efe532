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
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from handpose.data.augment import evaluation_crop_box
from handpose.data.readers import read_dataset
from handpose.estimators import Estimator
from handpose.evaluation.evaluate import score_predictions, subject_masks, write_json
from handpose.geometry.crop import crop_affine, crop_image
from handpose.inference.weights import load_estimator
from handpose.models.side_head import pooled_maps
from handpose.structures import HandSample
from handpose.synth.cache import prepare_synth_set

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real" / "uci_hand" / "annotations.json"
FIT_HANDS = 3000
BATCH = 32


def both_orientations(estimator: Estimator, samples: list[HandSample]) -> tuple[np.ndarray, ...]:
    """Per sample, for its box as it is and mirrored ((N, 2, ...) each): the pooled maps, the mean
    keypoint score and hand score (N, 2, 2) and the keypoints in image pixels."""
    network, size = estimator.network, estimator.crop.input_size
    features, scores, keypoints = [], [], []
    for start in range(0, len(samples), BATCH):
        boxes, crops = [], []
        for sample in samples[start:start + BATCH]:
            box = evaluation_crop_box(sample, estimator.crop.padding, flip_to_right=False)
            image = sample.load_image()
            for flip in (False, True):
                boxes.append(replace(box, flip=flip))
                crops.append(crop_image(image, boxes[-1], size))
        images = estimator.crop.normalize(np.stack(crops))
        with torch.no_grad():
            maps, head = network.forward_features(images)
            outputs = estimator(images)
        hands = estimator.predict(outputs, np.stack([crop_affine(b, size) for b in boxes]), np.array([b.flip for b in boxes]))
        features.append(pooled_maps(maps, head).numpy())
        scores.append([(hand.score, hand.hand_score) for hand in hands])
        keypoints.append(np.stack([hand.keypoints for hand in hands]))
    pairs = [np.concatenate(part).reshape(len(samples), 2, *np.shape(part[0])[1:]) for part in (features, scores, keypoints)]
    return pairs[0], pairs[1], pairs[2]


def fit_probe(features: np.ndarray, shows_right: np.ndarray) -> tuple[np.ndarray, np.ndarray, torch.Tensor, torch.Tensor]:
    """Logistic regression (L-BFGS, a little L2) on standardised features: mean, scale, weights, bias."""
    mean, scale = features.mean(0), features.std(0) + 1e-6
    x = torch.tensor((features - mean) / scale, dtype=torch.float32)
    y = torch.tensor(shows_right, dtype=torch.float32)
    weights, bias = torch.zeros(x.shape[1], requires_grad=True), torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.LBFGS([weights, bias], max_iter=500)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ weights + bias, y) + 1e-3 * weights.square().sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return mean, scale, weights.detach(), bias.detach()


def right_probability(probe: tuple, features: np.ndarray) -> np.ndarray:
    mean, scale, weights, bias = probe
    return torch.sigmoid(torch.tensor((features - mean) / scale, dtype=torch.float32) @ weights + bias).numpy()


def scored(
    probe: tuple, samples: list[HandSample], orientations: tuple[np.ndarray, ...], space: str, reads_side: bool
) -> dict:
    """Side accuracy and AUC 0-30 px of the rule, the probe and the true side, on ``samples``
    (``orientations``: their :func:`both_orientations`)."""
    features, scores, keypoints = orientations
    right = np.array([s.hand_side == "right" for s in samples])
    as_is_right = {
        "rule (higher mean score)": scores[:, 0, 0] >= scores[:, 1, 0],
        "linear probe": (right_probability(probe, features[:, 0]) + 1 - right_probability(probe, features[:, 1])) / 2 > 0.5,
    }
    if reads_side:  # the weights' own side head, as the Predictor combines it
        as_is_right["the weights' side head"] = (scores[:, 0, 1] + 1 - scores[:, 1, 1]) / 2 >= 0.5
    as_is_right["true side"] = right
    return {
        name: {
            "side_accuracy": float(np.mean(chosen == right)),
            "auc_0_30": score_predictions(samples, np.where(chosen[:, None, None], keypoints[:, 0], keypoints[:, 1]))[space]["pck"][0]["auc"],
        }
        for name, chosen in as_is_right.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="?", default="default")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    estimator = load_estimator(args.weights)
    fit = [s for s in read_dataset("coco", prepare_synth_set(4000, 1, 256, ROOT / "runs" / "cache")).samples if s.hand_side]
    features, _, _ = both_orientations(estimator, fit[:FIT_HANDS])
    right = np.array([s.hand_side == "right" for s in fit[:FIT_HANDS]], float)
    probe = fit_probe(np.concatenate([features[:, 0], features[:, 1]]), np.concatenate([right, 1 - right]))
    test = read_dataset("coco", prepare_synth_set(300, 3, 256, ROOT / "runs" / "cache")).samples
    results = {"synthetic test (crop px)": scored(probe, test, both_orientations(estimator, test), "crop_pixels", estimator.reads_side)}
    if REAL.is_file():
        real = read_dataset("coco", REAL).samples
        orientations = both_orientations(estimator, real)
        for subject, chosen in subject_masks(real).items():
            subset = [s for s, c in zip(real, chosen) if c]
            results[f"real {subject} (image px)"] = scored(
                probe, subset, tuple(a[chosen] for a in orientations), "image_pixels", estimator.reads_side
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
