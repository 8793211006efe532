"""``handpose demo``: the bundled pipeline on fresh synthetic images and the real development frames."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the main job: the bundled pipeline on synthetic and real images, with a report",
        description=(
            "Score the bundled weights on a fresh synthetic test split (annotated boxes) and, when "
            "present (../shared/data/real/uci_hand), on the real development frames as whole images "
            "through the Predictor and on their annotated boxes; write one real sequence as an overlay "
            "video and a report folder. With --train, first train a config (the 2-minute sketch of "
            "configs/default.yaml by default) and score that model instead."
        ),
    )
    parser.add_argument("--out", default="runs/demo", help="report folder (default: runs/demo)")
    parser.add_argument("--weights", default="default", help="weights to score (default: the bundled ones)")
    parser.add_argument(
        "--train", nargs="?", const="default", default=None, metavar="CONFIG",
        help="train first: configs/default.yaml, or the CONFIG given",
    )
    parser.add_argument("--minutes", type=float, default=None, help="with --train: time budget (default: the config's)")
    parser.add_argument("--test-count", type=int, default=300, help="synthetic test images (default: 300)")
    parser.add_argument("--real", default=None, help="COCO-style annotations of real frames to evaluate on too")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="with --train: config overrides")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import sys

    from handpose.demo import DEFAULT_CONFIG, REAL_DEV_SET, run_demo
    from handpose.inference.weights import WeightsError

    if args.overrides and args.train is None:
        print("error: config overrides need --train", file=sys.stderr)
        return 2
    train_config = None if args.train is None else (DEFAULT_CONFIG if args.train == "default" else args.train)
    try:
        result = run_demo(
            out_dir=args.out,
            weights=args.weights,
            train_config=train_config,
            minutes=args.minutes,
            test_count=args.test_count,
            real_annotations=args.real or REAL_DEV_SET,
            overrides=tuple(args.overrides),
        )
    except WeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print()
    print(result.summary)
    return 0
