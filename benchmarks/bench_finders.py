"""The whole pipeline on the real dev frames with each hand finder, per subject.

Each finder of the Predictor (``whole_image``; ``segmentation`` with HandSegNet; ``detector`` and
``auto`` with a hand detector, given with ``--detector`` where none is bundled) runs on every
frame as ``handpose predict`` would; the annotations only score (nearest predicted hand by box
centre, a miss where none). Per subject and overall: hands found, AUC 0-30 px and mean EPE in the
256-px frames, side agreement. Design choices on these frames are made on subject 001 and
reported on subject 040 (the brief's rule for tuning on the real frames).

    .venv/bin/python benchmarks/bench_finders.py [--detector detector.pt] [--json out.json]

Needs the real frames beside the checkout (``../shared/data``); says so and exits 0 without them.
A finder whose weights are not there is left out with a line saying so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from handpose.data.readers import read_dataset
from handpose.evaluation.evaluate import scores_by_subject, write_json
from handpose.evaluation.whole_image import predict_whole_images
from handpose.inference.weights import WeightsError, load_estimator, resolve_weights

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real" / "uci_hand" / "annotations.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="default", help="the pose weights")
    parser.add_argument("--detector", help="hand detector weights (default: the bundled ones, where there)")
    parser.add_argument("--real", type=Path, default=REAL, help=f"the real frames' annotations (default: {REAL})")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if not args.real.is_file():
        print(f"skipped: {args.real} is not there (the data beside the checkout)")
        return 0
    detector = args.detector or ("detector" if resolve_weights("detector").is_file() else None)
    runs: dict[str, tuple[str, str | None]] = {"whole_image": ("whole_image", None)}
    if resolve_weights("handsegnet").is_file():
        runs["segmentation"] = ("segmentation", None)
    if detector is not None:
        runs.update({"detector": ("detector", detector), "auto": ("auto", detector)})
    else:
        print("detector and auto left out: no detector weights (give --detector)")
    estimator = load_estimator(args.weights)
    samples = read_dataset("coco", args.real).samples
    report = {}
    for name, (finder, weights) in runs.items():
        try:
            keypoints, _, figures = predict_whole_images(estimator, samples, finder, weights)
        except WeightsError as error:
            print(f"{name} left out: {error}")
            continue
        report[name] = {"figures": figures}
        for subject, (chosen, scores) in scores_by_subject(samples, keypoints).items():
            report[name][subject] = {
                "found": int(np.isfinite(keypoints[chosen]).all(axis=(1, 2)).sum()),
                "hands": int(chosen.sum()),
                "auc_0_30": round(scores["pck"][0]["auc"], 4),
                "epe_mean": round(scores["epe_mean"], 2),
            }
    columns = [key for key in next(iter(report.values())) if key != "figures"]
    print("| finder | " + " | ".join(f"{c}: AUC / found" for c in columns) + " | side agrees | extra hands/image |")
    print("|---" * (len(columns) + 3) + "|")
    for name, row in report.items():
        cells = [f"{row[c]['auc_0_30']:.3f} / {row[c]['found']}" for c in columns]
        figures = row["figures"]
        side = figures["hand_side_agreement"]
        print(f"| {name} | " + " | ".join(cells) + f" | {'-' if side is None else f'{side:.3f}'} | "
              f"{figures['unmatched_predictions_per_image']:.3f} |")  # fmt: skip
    if args.json is not None:
        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
