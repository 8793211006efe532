"""The whole-body hand stage on COCO-WholeBody annotations: hands from the body, and in given boxes.

The annotations' hand keypoints are removed, and ``handpose wholebody``'s stage estimates each
person's hands, (a) from the body keypoints alone (hand boxes and validity flags removed too) and
(b) in the annotated hand boxes, given; each is scored against the labelled hands
(:mod:`handpose.evaluation.wholebody`): COCO-WholeBody hand keypoint AP and AP50 (OKS with its 21
hand sigmas, pycocotools), hand-box recall at IoU 0.5, mean keypoint error in image pixels.

With a hand detector (``--detector``, by default the bundled one where it is there), a third run
(c) moves the boxes from the body onto the detected hands inside them, as ``handpose wholebody``
does by default.

On the COCO-WholeBody format sample (the default): 4 COCO images with 10 labelled hands 11-31 px
wide, a check of the stage rather than a benchmark figure. With ``--synthetic N``: N synthetic
whole-person scenes (:mod:`handpose.synth.whole_person`; seed ``--seed``, by default one no config
trains on), generated once into ``--cache`` and reused.

    .venv/bin/python benchmarks/bench_wholebody.py [--weights hand_stage] [--detector auto|none|W] [--json out.json] [--out DIR]
    .venv/bin/python benchmarks/bench_wholebody.py --synthetic 200 [--seed 403] [--workers 2]

``--out DIR`` keeps, per run, the stripped input (``DIR/<body|annotated|body+detector>/input/``) and the
stage's output beside it. Says so and exits 0 when the sample or the bundled weights are not there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from handpose.evaluation.wholebody import (
    BOX_SOURCES,
    BoxSource,
    evaluate_synthetic_wholebody,
    evaluate_wholebody_sample,
)
from handpose.image_io import write_bytes_atomic
from handpose.inference.predictor import Predictor
from handpose.inference.weights import BUNDLED_WEIGHTS, resolve_weights
from handpose.wholebody.hand_boxes import Detector, load_detector

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "coco_style_samples" / "coco_wholebody"
#: The synthetic test split's seed: not one of configs/wholebody/hand_stage_mixed.yaml's (401, 402).
TEST_SEED = 403


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="hand_stage", help="bundled weights name, weights file or checkpoint")
    parser.add_argument("--detector", default="auto", help="auto (the bundled one where there), none, or weights")
    parser.add_argument("--sample", type=Path, default=SAMPLE, help=f"the sample's folder (default: {SAMPLE})")
    parser.add_argument("--synthetic", type=int, metavar="N", help="score N synthetic whole-person scenes instead")
    parser.add_argument("--seed", type=int, default=TEST_SEED, help=f"synthetic split's seed (default {TEST_SEED})")
    parser.add_argument("--size", type=int, default=256, help="synthetic image side in pixels (default 256)")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "cache", help="where the synthetic split goes")
    parser.add_argument("--workers", type=int, default=1, help="processes generating the synthetic split")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--out", type=Path, help="keep each run's stripped input and output here")
    args = parser.parse_args(argv)
    if args.synthetic is None and not args.sample.is_dir():
        print(f"skipped: {args.sample} is not there (the data beside the checkout)")
        return 0
    if args.weights in BUNDLED_WEIGHTS and not resolve_weights(args.weights).is_file():
        print(f"skipped: the bundled weights {resolve_weights(args.weights)} are not there yet; give --weights")
        return 0
    predictor = Predictor(args.weights, finder="whole_image")  # the boxes are given
    runs: list[tuple[str, BoxSource, Detector | None]] = [(boxes, boxes, None) for boxes in BOX_SOURCES]
    detect = load_detector(args.detector)
    if detect is not None:
        runs.append(("body+detector", "body", detect))
    report: dict[str, Any] = {}
    for name, boxes, detect in runs:
        out_dir = args.out / name if args.out is not None else None
        if args.synthetic is None:
            report[name] = evaluate_wholebody_sample(predictor, args.sample, out_dir, boxes, detect)
        else:
            report[name] = evaluate_synthetic_wholebody(
                predictor, args.synthetic, args.seed, args.cache, args.size, boxes, args.workers, out_dir, detect
            )
    print(json.dumps(report, indent=2))
    print(_table(report))
    if args.json is not None:
        write_bytes_atomic(args.json, json.dumps(report, indent=2).encode("utf-8"))
    return 0


def _table(report: dict[str, Any]) -> str:
    """The headline figures of each box source, one Markdown row each."""
    rows = ["| hand boxes | labelled hands | found | hand AP | AP50 | box recall (IoU 0.5) | mean error px |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for boxes, r in report.items():
        ap = r["hand_ap"]
        rows.append(
            f"| {boxes} | {r['labelled_hands']} | {r['found_hands']} | {ap['AP']} | {ap['AP50']} | "
            f"{r['box_recall']} | {r['mean_keypoint_error_px']} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    raise SystemExit(main())
