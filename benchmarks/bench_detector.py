"""The hand detector's box figures on a synthetic test split and on the real dev frames.

Figures from :func:`handpose.evaluation.detection.evaluate_detector`: COCO box AP@0.5 and
AP@[.5:.95] (pycocotools), and at the detector's operating threshold recall at IoU 0.5, false
positives per image, left/right accuracy of the hands found and the images in which a hand was
found. The synthetic split is the generator's detection scenes (0-4 hands from 20 px to filling the
frame, skin-coloured distractors, images without hands) with a seed no training set uses; its true
boxes are the annotations' (keypoints and hand pixels). The real dev frames have one hand each and
their true box is that of the labelled keypoints (``gt_boxes="keypoints"``).

    .venv/bin/python benchmarks/bench_detector.py [--weights detector] [--count 500] [--json out.json]

The real frames are scored when ``../shared/data`` is beside the checkout; says so and exits 0 when
the weights are not there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from handpose.evaluation.detection import evaluate_detector
from handpose.image_io import write_bytes_atomic
from handpose.inference.weights import BUNDLED_WEIGHTS, load_estimator, resolve_weights
from handpose.synth.cache import prepare_synth_set

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real" / "uci_hand" / "annotations.json"
#: The synthetic test split's seed: not one of configs/detection/detector_synth.yaml's (301, 302).
TEST_SEED = 303


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="detector", help="bundled weights name, weights file or checkpoint")
    parser.add_argument("--count", type=int, default=500, help="synthetic test images (default 500)")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "cache", help="where the synthetic split is generated")
    parser.add_argument("--real", type=Path, default=REAL, help=f"the real frames' annotations (default: {REAL})")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    if args.weights in BUNDLED_WEIGHTS and not resolve_weights(args.weights).is_file():
        print(f"skipped: the bundled weights {resolve_weights(args.weights)} are not there yet; give --weights")
        return 0
    detector = load_estimator(args.weights)
    synthetic = prepare_synth_set(args.count, TEST_SEED, 256, args.cache, scene_kind="detection")
    report = {"synthetic_test": evaluate_detector(detector, f"coco:{synthetic}")}
    if args.real.is_file():
        report["real_dev"] = evaluate_detector(detector, f"coco:{args.real}", gt_boxes="keypoints")
    else:
        print(f"real frames not scored: {args.real} is not there (the data beside the checkout)")
    print(json.dumps(report, indent=2))
    if args.json is not None:
        write_bytes_atomic(args.json, json.dumps(report, indent=2).encode("utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
