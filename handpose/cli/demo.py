"""``handpose demo``: generate, train, evaluate and report on the embedded synthetic default."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the main job: synthetic data, train the default model, evaluate, write a report",
        description=(
            "Generate a synthetic train/val/test set, train the default model, evaluate it on the "
            "held-out synthetic test split and on the real development frames when present "
            "(../shared/data/real/uci_hand), and write a report folder."
        ),
    )
    parser.add_argument("--out", default="runs/demo", help="report folder (default: runs/demo)")
    parser.add_argument("--config", default=None, help="experiment config (default: configs/default.yaml)")
    parser.add_argument("--minutes", type=float, default=None, help="training time budget (default: the config's)")
    parser.add_argument("--test-count", type=int, default=300, help="synthetic test images (default: 300)")
    parser.add_argument("--real", default=None, help="COCO-style annotations of real frames to evaluate on too")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, as for `handpose train`")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from handpose.demo import DEFAULT_CONFIG, REAL_DEV_SET, run_demo

    result = run_demo(
        out_dir=args.out,
        config_path=args.config or DEFAULT_CONFIG,
        minutes=args.minutes,
        test_count=args.test_count,
        real_annotations=args.real or REAL_DEV_SET,
        overrides=tuple(args.overrides),
    )
    print()
    print(result.summary)
    return 0
