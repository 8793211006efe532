"""``handpose synth``: render a synthetic hand dataset with exact labels.

``handpose synth --out DIR --count N`` writes N pictures (one or two hands each) with 2D/3D
keypoints, visibility, masks and depth, in the COCO-style layout (``DIR/<split>.json`` and
``DIR/images/<split>/``) or RHD's (``DIR/<training|evaluation>/``). The same seed gives identical
files whatever the number of workers.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("synth", help="render a synthetic hand dataset", description=__doc__.split("\n\n")[1])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--count", type=int, required=True, help="number of pictures")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument("--format", choices=("coco", "rhd"), default="coco", help="layout to write (default coco)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--split", default="train", help="split name (default train; RHD maps train/val/test to its own)")
    parser.add_argument("--backgrounds", type=Path, help="folder of photographs to use as backgrounds")
    parser.set_defaults(func=_synth)


def _synth(args: argparse.Namespace) -> int:
    from handpose.synth import generate_dataset

    if args.backgrounds is not None and not args.backgrounds.is_dir():
        print(f"handpose synth: --backgrounds {args.backgrounds} is not a folder")
        return 2
    path = generate_dataset(
        args.out,
        args.count,
        size=args.size,
        seed=args.seed,
        format=args.format,
        workers=args.workers,
        split=args.split,
        background_dir=args.backgrounds,
    )
    print(f"wrote {args.count} pictures; annotations: {path}")
    return 0
