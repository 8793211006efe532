"""The whole-body hand stage on the COCO-WholeBody format sample: hands from the body alone.

The sample's hand keypoints, hand boxes and validity flags are removed, ``handpose wholebody``'s
stage finds each person's hands from the body keypoints and estimates them, and the result is
scored against the labelled hands (:func:`handpose.evaluation.wholebody.evaluate_wholebody_sample`):
mean keypoint error in image pixels, hand-box recall at IoU 0.5 (estimated boxes, and the boxes
taken from the body before the network), and COCO-WholeBody hand keypoint AP. The sample is 4
COCO images with 10 labelled hands 11-31 px wide: a check of the stage, not a benchmark figure.

    .venv/bin/python benchmarks/bench_wholebody.py [--weights default] [--json out.json]

Needs the sample beside the checkout (``../shared/data``) and the weights; says so and exits 0 when
the sample or the bundled weights are not there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from handpose.evaluation.wholebody import evaluate_wholebody_sample
from handpose.image_io import write_bytes_atomic
from handpose.inference.predictor import Predictor
from handpose.inference.weights import BUNDLED_WEIGHTS, resolve_weights

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "coco_style_samples" / "coco_wholebody"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="default", help="bundled weights name, weights file or checkpoint")
    parser.add_argument("--sample", type=Path, default=SAMPLE, help=f"the sample's folder (default: {SAMPLE})")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    if not args.sample.is_dir():
        print(f"skipped: {args.sample} is not there (the data beside the checkout)")
        return 0
    if args.weights in BUNDLED_WEIGHTS and not resolve_weights(args.weights).is_file():
        print(f"skipped: the bundled weights {resolve_weights(args.weights)} are not there yet; give --weights")
        return 0
    report = evaluate_wholebody_sample(Predictor(args.weights), args.sample)
    print(json.dumps(report, indent=2))
    if args.json is not None:
        write_bytes_atomic(args.json, json.dumps(report, indent=2).encode("utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
