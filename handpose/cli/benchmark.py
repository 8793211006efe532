"""``handpose benchmark``: accuracy and latency of the whole pipeline on whole images, beside MediaPipe.

``handpose benchmark --data FMT:PATH --out DIR`` runs each annotated image whole through the
Predictor, as ``handpose predict`` does (the annotations only score), on each ``--backends``
backend, and MediaPipe Hands on the same images where its side environment is there
(``--mediapipe install`` makes it: a separate venv with mediapipe 0.10.21, which needs numpy<2;
handpose's own environment never changes). Accuracy: hands found of those annotated, EPE,
PCK@0.2, AUC 0-30 px and left/right accuracy; latency: median and 90th percentile ms per image at
each ``--threads`` setting. Writes DIR/benchmark.json and DIR/benchmark.md (docs/benchmark.md).
Exit status 2 for bad arguments, 1 when the benchmark fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from handpose.cli.predict import FINDERS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "benchmark",
        help="accuracy and latency of the whole pipeline on annotated whole images, beside MediaPipe Hands",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument(
        "--data",
        required=True,
        metavar="FMT:PATH",
        help="annotated dataset as FMT:PATH[?key=value&...], e.g. coco:annotations.json (as handpose eval takes it)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("benchmark"), metavar="DIR", help="output folder (default: benchmark)"
    )
    parser.add_argument(
        "--weights",
        default="default",
        help="bundled weights name, weights file, checkpoint or .onnx (default: default)",
    )
    parser.add_argument(
        "--finder",
        choices=FINDERS,
        default="auto",
        help="where hands come from, as handpose predict takes it (default: auto, handpose predict's default)",
    )
    parser.add_argument(
        "--detector",
        metavar="WEIGHTS",
        help="the detector or segmentation finder's weights instead of the bundled ones",
    )
    parser.add_argument(
        "--backends", default="torch,onnx", metavar="LIST", help="comma-separated: torch, onnx (default: torch,onnx)"
    )
    parser.add_argument(
        "--threads",
        default="1,all",
        metavar="LIST",
        help="comma-separated thread settings latency is measured at: numbers or 'all' (default: 1,all)",
    )
    parser.add_argument("--limit", type=int, metavar="N", help="the first N images only")
    parser.add_argument(
        "--latency-images",
        type=int,
        default=100,
        metavar="N",
        help="latency over the first N images, after a few untimed calls (default 100)",
    )
    parser.add_argument(
        "--mediapipe",
        choices=("auto", "off", "install"),
        default="auto",
        help="MediaPipe Hands beside: auto (where its environment is there), off, or install (make the "
        "environment first; $HANDPOSE_MEDIAPIPE_VENV, default ~/.cache/handpose/mediapipe-venv)",
    )
    parser.set_defaults(func=_benchmark)


def _benchmark(args: argparse.Namespace) -> int:
    from handpose.data.spec import parse_data_spec
    from handpose.evaluation.benchmark import check_settings, format_benchmark_table, run_benchmark
    from handpose.evaluation.evaluate import write_json
    from handpose.evaluation.mediapipe_side import MediaPipeError, ensure_environment
    from handpose.image_io import write_bytes_atomic
    from handpose.inference.weights import WeightsError
    from handpose.structures import SampleError

    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    threads = [setting.strip() for setting in args.threads.split(",") if setting.strip()]
    try:
        spec = parse_data_spec(args.data)
        check_settings(args.weights, backends, threads, args.limit, args.latency_images)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    mediapipe = None
    if args.mediapipe != "off":
        try:
            mediapipe = ensure_environment(install=args.mediapipe == "install")
        except MediaPipeError as error:
            if args.mediapipe == "install":
                print(f"error: {error}", file=sys.stderr)
                return 1
            print(f"MediaPipe left out: {error}", file=sys.stderr)
    try:
        report = run_benchmark(
            spec,
            args.weights,
            finder=args.finder,
            detector=args.detector,
            backends=backends,
            threads=threads,
            limit=args.limit,
            latency_images=args.latency_images,
            mediapipe=mediapipe,
        )
    except WeightsError as error:  # weights that cannot be used: a bad argument, as for handpose predict
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (SampleError, MediaPipeError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    table = format_benchmark_table(report)
    write_json(args.out / "benchmark.json", report)
    write_bytes_atomic(args.out / "benchmark.md", (table + "\n").encode("utf-8"))
    print(table)
    print(f"\nwrote {args.out / 'benchmark.json'} and {args.out / 'benchmark.md'}")
    return 0
