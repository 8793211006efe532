"""Test-time views of each hand's final crop on the real dev frames: accuracy per subject and time.

Each set of in-plane rotations (``--rotations``, degrees; ``0`` alone is one plain view) runs the whole
pipeline as ``handpose predict`` would (``--finder``, the views combined by ``best``: the view of
the highest pose score) on every real dev frame; the annotations only score. Per subject and
overall: AUC 0-30 px and mean EPE in the 256-px frames. Then the time per image of each set: the
Predictor alone on onnxruntime with ``--threads`` intra-op threads, ``--timed`` frames spread
over the set, the median of ``--rounds`` rounds run interleaved (so a busy machine slows every set
alike; compare the rows with each other). Choices are made on subject 001 and reported on 040
(the brief's rule for tuning on the real frames).

    .venv/bin/python benchmarks/bench_test_time_views.py [--rotations=0 --rotations=-40,0,40 ...] [--json out.json]

Needs the real frames beside the checkout (``../shared/data``); says so and exits 0 without them.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from handpose.data.readers import read_dataset
from handpose.evaluation.evaluate import scores_by_subject, write_json
from handpose.evaluation.whole_image import predict_whole_images
from handpose.inference.onnx_backend import export_onnx, load_onnx_estimator
from handpose.inference.predictor import DEFAULT_ROTATIONS, Predictor
from handpose.inference.weights import load_estimator

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real" / "uci_hand" / "annotations.json"


def rotations(text: str) -> tuple[float, ...]:
    """One ``--rotations`` set: degrees, comma-separated."""
    return tuple(float(part) for part in text.split(","))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="default", help="the pose weights")
    parser.add_argument(
        "--rotations", type=rotations, action="append", metavar="DEGREES",
        help="one set of rotations, comma-separated and written with '=' (--rotations=-40,0,40); repeat it for "
        "more rows (default: one plain view, the Predictor's default, and five views)",
    )
    parser.add_argument("--finder", default="whole_image", help="the Predictor's finder (default: whole_image)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (default 1)")
    parser.add_argument("--timed", type=int, default=100, help="frames timed per round (default 100)")
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds, interleaved (default 5)")
    parser.add_argument("--real", type=Path, default=REAL, help=f"the real frames' annotations (default: {REAL})")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    rotation_sets = args.rotations or [(0.0,), DEFAULT_ROTATIONS, (-45.0, -25.0, 0.0, 25.0, 45.0)]
    if not args.real.is_file():
        print(f"skipped: {args.real} is not there (the data beside the checkout)")
        return 0
    with tempfile.TemporaryDirectory() as folder:
        estimator = load_onnx_estimator(export_onnx(load_estimator(args.weights), Path(folder) / "pose.onnx"), args.threads)
    samples = read_dataset("coco", args.real).samples
    report: dict[str, dict] = {}
    for views in rotation_sets:
        options = {"tta_rotations": views}
        keypoints, _, _ = predict_whole_images(estimator, samples, args.finder, predictor_options=options)
        report[",".join(f"{v:g}" for v in views)] = {
            subject: {"auc_0_30": round(scores["pck"][0]["auc"], 4), "epe_mean": round(scores["epe_mean"], 2)}
            for subject, (_, scores) in scores_by_subject(samples, keypoints).items()
        }

    timed = [samples[i].load_image() for i in np.linspace(0, len(samples) - 1, args.timed).astype(int)]
    predictors = {name: Predictor(estimator=estimator, finder=args.finder, tta_rotations=views)
                  for name, views in zip(report, rotation_sets)}  # fmt: skip
    seconds: dict[str, list[float]] = {name: [] for name in predictors}
    for _ in range(args.rounds):
        for name, predictor in predictors.items():
            start = time.perf_counter()
            for image in timed:
                predictor(image)
            seconds[name].append((time.perf_counter() - start) / len(timed))
    for name in report:
        report[name]["ms_per_image"] = round(1000.0 * float(np.median(seconds[name])), 1)

    columns = [key for key in next(iter(report.values())) if key != "ms_per_image"]
    print("| rotations (degrees) | " + " | ".join(f"{c}: AUC / EPE px" for c in columns) + " | ms/image |")
    print("|---" * (len(columns) + 2) + "|")
    for name, row in report.items():
        cells = [f"{row[c]['auc_0_30']:.4f} / {row[c]['epe_mean']:.2f}" for c in columns]
        print(f"| {name} | " + " | ".join(cells) + f" | {row['ms_per_image']} |")
    if args.json is not None:
        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
