"""Where a 3D estimator's error comes from: its 2D keypoints or its depths.

Every 3D hand handpose predicts is 2D keypoints plus depths relative to the wrist, joined by
:func:`handpose.geometry.lift_25d.lift_25d` (each joint on its keypoint's ray, the root depth
fixed by the bone lengths). Swapping either half for the ground truth, hand by hand on the
synthetic test split (seed 3, never trained on), says what each half costs and so what a better
model would have to improve (issue 12 asks for a scale-aligned AUC 20-50 mm of 0.95):

- the network's own 3D shape, not anchored on its 2D;
- predicted 2D + predicted depths (what ``handpose predict`` returns);
- ground-truth 2D + predicted depths (the depths' share);
- predicted 2D + ground-truth depths (the 2D's share);
- predicted 2D + zero depths (a flat hand: what depth is worth at all).

All lifts use the mean hand's bone lengths to fix the root depth, the labelled K, and are scored
root-relative after scale alignment, as ``handpose eval`` scores 3D.

    .venv/bin/python benchmarks/bench_3d_sources.py [WEIGHTS] [--count 300] [--json out.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from handpose.data.readers import read_dataset
from handpose.evaluation.evaluate import write_json
from handpose.evaluation.topdown import predict_topdown
from handpose.geometry.fit_3d import hand_size, mean_bone_lengths
from handpose.geometry.lift_25d import lift_25d
from handpose.inference.weights import load_estimator
from handpose.metrics import PCK_RANGE_3D_MM, aligned_errors, auc
from handpose.metrics.alignment import root_relative
from handpose.skeleton import ROOT
from handpose.synth.cache import prepare_synth_set

ROOT_DIR = Path(__file__).resolve().parents[1]
#: The synthetic test split's seed (configs train on 1 and 4, validate on 2).
TEST_SEED = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="?", default="default", help="a 3D estimator (default: the bundled default)")
    parser.add_argument("--count", type=int, default=300, help="synthetic test images (default 300)")
    parser.add_argument("--cache", type=Path, default=ROOT_DIR / "runs" / "cache", help="where the split is generated")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    estimator = load_estimator(args.weights)
    samples = read_dataset("coco", prepare_synth_set(args.count, TEST_SEED, 256, args.cache)).samples
    samples = [s for s in samples if s.keypoints_3d is not None and s.K is not None]
    hands = predict_topdown(estimator, samples, progress=True).hands
    if any(hand.keypoints_3d is None for hand in hands):
        raise SystemExit(f"{args.weights}: not a 3D estimator (its predictions carry no keypoints_3d)")

    truth = np.stack([np.asarray(s.keypoints_3d, dtype=np.float64) for s in samples])
    labelled = np.stack([s.labelled for s in samples])
    labelled &= labelled[:, ROOT : ROOT + 1]
    K = np.stack([s.K for s in samples])
    lengths = mean_bone_lengths()  # lift_25d broadcasts them over the hands
    predicted_2d = np.stack([hand.keypoints for hand in hands])
    true_2d = np.stack([np.asarray(s.keypoints_2d, dtype=np.float64) for s in samples])
    shape = np.stack([hand.keypoints_3d for hand in hands])  # the network's own, in the camera's orientation
    predicted_depths, true_depths = shape[..., 2], truth[..., 2]
    rows = {
        "the network's 3D shape, not anchored": shape,
        "predicted 2D + predicted depths (handpose predict)": lift_25d(predicted_2d, predicted_depths, K, lengths),
        "ground-truth 2D + predicted depths": lift_25d(true_2d, predicted_depths, K, lengths),
        "predicted 2D + ground-truth depths": lift_25d(predicted_2d, true_depths, K, lengths),
        "predicted 2D + zero depths (a flat hand)": lift_25d(predicted_2d, 0.0 * true_depths, K, lengths),
    }
    low, high, steps = PCK_RANGE_3D_MM
    # Depths relative to the wrist in hand sizes, so that the mean hand's scale does not count.
    relative_truth, relative_shape = root_relative(truth), root_relative(shape)
    depth_errors = np.abs(relative_shape[..., 2] / hand_size(relative_shape)[:, None] - relative_truth[..., 2] / hand_size(relative_truth)[:, None])
    depth_error = float(depth_errors[labelled & (np.arange(labelled.shape[1]) != ROOT)].mean())
    report = {"weights": str(args.weights), "num_hands": len(samples), "depth_error_hand_sizes": depth_error, "rows": {}}
    print(f"{len(samples)} hands; predicted depths relative to the wrist off by {depth_error:.3f} hand sizes on average")
    print("root-relative, scale-aligned, mm\n")
    print("| 3D from | mean (lifted hands) | median | AUC 20-50 mm (no lift: a miss) | hands with no lift |")
    print("|---|---|---|---|---|")
    for name, points in rows.items():
        errors = aligned_errors(root_relative(points), root_relative(truth), labelled, "scale")  # no lift: misses
        scored = errors[np.isfinite(errors)]
        figures = {"mean_mm": float(scored.mean()), "median_mm": float(np.median(scored)),
                   "auc_20_50_mm": auc(errors, low, high, steps), "no_lift": int((~np.isfinite(points).all(axis=(-2, -1))).sum())}
        report["rows"][name] = figures
        print(f"| {name} | {figures['mean_mm']:.1f} | {figures['median_mm']:.1f} | {figures['auc_20_50_mm']:.3f} | {figures['no_lift']} |")
    if args.json is not None:
        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
