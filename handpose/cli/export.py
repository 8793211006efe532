"""``handpose export CHECKPOINT --out FILE``: a training checkpoint as a small weights file.

The weights file holds the estimator's name and settings, its input spec and its weights in fp16
(:mod:`handpose.inference.weights`): what ``handpose predict --weights``, ``handpose eval`` and
``handpose.Predictor`` load without the training package. Exit status 1 for an unreadable input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a training checkpoint as a compact weights file",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument("checkpoint", type=Path, help="training checkpoint (.ckpt) or weights file")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="weights file to write, e.g. hand2d.pt")
    parser.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from handpose.inference.weights import WeightsError, load_estimator, save_weights

    try:
        estimator = load_estimator(args.checkpoint)
    except WeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    path = save_weights(estimator, args.out, metadata={"exported_from": args.checkpoint.name})
    parameters = sum(p.numel() for p in estimator.parameters())
    print(f"wrote {path} ({estimator.name}, {parameters / 1e6:.2f} M parameters, {path.stat().st_size / 1e6:.1f} MB)")
    return 0
