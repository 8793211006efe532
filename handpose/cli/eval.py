"""``handpose eval``: score models on an annotated dataset, top-down on its hand boxes.

``handpose eval MODEL [MODEL ...] --data FMT:PATH --out DIR`` runs each model (a weights file, a
bundled weights name such as ``default``, or a training checkpoint) on
every hand of the dataset and writes metrics.json (errors in original image pixels and in pixels
of a --norm-size crop around the hand), predictions.json (COCO keypoint results), PCK-curve PNGs
and overlays.png; with several models, a comparison table (printed, and DIR/comparison.md) and
PCK PNGs with every curve. A 3D estimator on a set with 3D labels also gets 3D figures
(root-relative scale-aligned and Procrustes-aligned errors and AUCs, camera-frame errors where K
is known; handpose.evaluation.eval_3d). A COCO results file (.json) of predictions made elsewhere (e.g.
MediaPipe) may stand in for a checkpoint; hands it has no prediction for count as misses.
``--backend onnx`` scores the network as deployed: exported and run by onnxruntime.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from handpose.cli.predict import add_test_time_options, test_time_options

#: ``--finder``'s choices: the annotated boxes, or the Predictor's finders (handpose.evaluation.evaluate
#: .FINDERS, named here so --help stays fast).
FINDERS = ("boxes", "auto", "detector", "segmentation", "whole_image")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate checkpoints on an annotated dataset (top-down, on the hand boxes)",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument(
        "checkpoints", nargs="+", type=Path, metavar="MODEL",
        help="weights file, bundled weights name (default), training checkpoint (.ckpt), "
        "or COCO keypoint results (.json) to score as they are",
    )
    parser.add_argument(
        "--data", required=True, metavar="FMT:PATH",
        help="dataset as FMT:PATH[?key=value&...], e.g. coco:annotations.json or coco:test.json?joint_order=rhd_hand",
    )
    parser.add_argument("--out", type=Path, default=Path("eval"), metavar="DIR", help="output folder (default: eval)")
    parser.add_argument("--batch-size", type=int, default=32, metavar="B", help="crops per forward pass (default 32)")
    parser.add_argument("--limit", type=int, metavar="N", help="evaluate the first N hands only")
    parser.add_argument(
        "--norm-size", type=int, default=256, metavar="PX",
        help="side of the crop around each hand that the crop-pixel errors are scaled to (default 256)",
    )
    parser.add_argument("--overlays", type=int, default=16, metavar="N", help="hands drawn in overlays.png (default 16)")
    parser.add_argument(
        "--finder", choices=FINDERS, default=None,
        help="where hands come from: the annotated boxes (the default without --detector), or whole images through the "
        "Predictor (annotations only score): auto as `handpose predict` runs, the hand detector, "
        "HandSegNet's segmentation, or the whole image as one hand; a missed hand counts as a miss",
    )
    parser.add_argument(
        "--detector", metavar="WEIGHTS",
        help="the detector or segmentation finder's weights instead of the bundled ones; alone, it means "
        "--finder detector: the whole pipeline on whole images",
    )
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument(
        "--backend", choices=("torch", "onnx"), default="torch",
        help="what runs the networks: torch, or onnx (exported on the fly and run by onnxruntime, as deployed)",
    )
    add_test_time_options(parser)  # whole images only (--finder other than boxes), except --upright
    parser.set_defaults(func=_eval)


def _eval(args: argparse.Namespace) -> int:
    for option in ("batch_size", "limit", "norm_size", "overlays"):
        value = getattr(args, option)
        if value is not None and value < 1:
            print(f"error: --{option.replace('_', '-')} must be at least 1, got {value}", file=sys.stderr)
            return 2

    import torch

    from handpose.data.spec import parse_data_spec
    from handpose.evaluation.evaluate import comparison_tables, evaluate_checkpoints
    from handpose.structures import SampleError

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        spec = parse_data_spec(args.data)
        reports = evaluate_checkpoints(
            args.checkpoints, spec, args.out,
            batch_size=args.batch_size, limit=args.limit, norm_size=args.norm_size,
            overlay_count=args.overlays, device=device, detector=args.detector,
            finder=args.finder or ("detector" if args.detector else "boxes"),
            predictor_options=test_time_options(args), backend=args.backend,
        )
    except (SampleError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    report = next(iter(reports.values()))
    if report["skipped_samples"]:
        print(f"skipped {report['skipped_samples']} unusable samples of {args.data}:", file=sys.stderr)
        for reason in report["skipped_reasons"]:
            print(f"  {reason}", file=sys.stderr)
    print(comparison_tables(reports))
    for name, model_report in reports.items():
        figures = model_report["protocol"].get("3d")
        if figures:  # a 3D estimator on a set with 3D labels
            print(f"\n3D of {name} ({figures['num_hands']} hands):")
            for key, value in figures.items():
                if key != "num_hands" and value is not None:
                    print(f"  {key}: {value:.3f}")
    print(f"\nwrote {args.out}/")
    return 0
