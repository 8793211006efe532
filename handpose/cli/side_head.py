"""``handpose side-head WEIGHTS --out FILE``: pose weights that tell which side a hand is.

Fits a side head (:mod:`handpose.models.side_head`) onto the weights' network, which stays exactly
as it is, and writes the weights with it. The Predictor then chooses between each crop and its
mirror by what the head reads (the hand's side, and the orientation its keypoints come from)
instead of by the keypoint scores. By default the head learns from synthetic hands the generator
makes (seed 1, cached in runs/cache), each crop as it is and mirrored; ``--data`` names another
labelled set. Exit status 1 for unusable weights or data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "side-head",
        help="fit a side head onto pose weights, so that they tell left from right hands",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument("weights", metavar="WEIGHTS", help="bundled weights name, weights file or checkpoint")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="weights file to write")
    parser.add_argument(
        "--data", metavar="FMT:PATH",
        help="labelled hands to fit on, as in handpose eval (default: synthetic hands of seed 1)",
    )  # fmt: skip
    parser.add_argument("--hands", type=int, metavar="N",
                        help="fit on the first N hands with a side (default: 3000 synthetic ones; every one of --data's)")
    parser.set_defaults(func=_side_head)


def _side_head(args: argparse.Namespace) -> int:
    from handpose.data.spec import parse_data_spec
    from handpose.inference.weights import WeightsError, load_estimator, read_metadata, save_weights
    from handpose.structures import SampleError
    from handpose.train.side_head import SIDE_HANDS, add_side_head, side_head_record, synthetic_side_samples

    if args.hands is not None and args.hands < 2:
        print(f"error: --hands must be 2 or more, got {args.hands}", file=sys.stderr)
        return 1
    try:
        estimator = load_estimator(args.weights)
        metadata = read_metadata(args.weights)
        if args.data:
            samples, source = parse_data_spec(args.data).read().samples, args.data
            sided = [s for s in samples if s.hand_side in ("left", "right")][: args.hands]
        else:
            sided, source = synthetic_side_samples(args.hands or SIDE_HANDS)
        loss = add_side_head(estimator, sided)
        metadata["side_head"] = side_head_record(source, len(sided), loss)
        path = save_weights(estimator, args.out, metadata)
    except (WeightsError, SampleError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"fitted a side head on {len(sided)} hands ({source}): cross-entropy {loss:.3f}; wrote {path}")
    return 0
