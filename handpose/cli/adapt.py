"""``handpose adapt --images DIR --out FILE``: pose weights adapted to your own frames, without labels.

The weights (the bundled ones unless ``--weights`` names others) label the hands in the folder's
images themselves (found as ``handpose predict --finder`` finds them), keeping the joints they are confident of and agree on when the hand is turned,
and a copy of them is trained on those pseudo-labels, with augmentation, into the new weights
file (see docs/training.md, "Adapting to your own frames"). An image that cannot be read is named
and skipped; exit status 2 when nothing can be adapted (no readable image, no confident
pseudo-label, unusable weights or arguments).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from handpose.cli.predict import FINDERS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "adapt",
        help="self-train pose weights on your own unlabelled images",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument("--images", required=True, metavar="DIR", help="folder (subfolders too) or glob of your images")
    parser.add_argument(
        "--out", type=Path, required=True, metavar="FILE", help="weights file to write, e.g. adapted.pt"
    )
    parser.add_argument(
        "--weights", default="default", help="bundled weights name, weights file or checkpoint (default: default)"
    )
    parser.add_argument("--epochs", type=int, metavar="E", help="training epochs per round (default 4)")
    parser.add_argument(
        "--rounds", type=int, metavar="R", help="rounds; each student labels the next round (default 1)"
    )
    parser.add_argument(
        "--min-confidence", type=float, metavar="C",
        help="joints (and images, on average) whose pseudo-label weight is below C are left out (default 0.3)",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=int, metavar="B", help="crops per training step (default 16)")
    parser.add_argument("--lr", type=float, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--limit", type=int, metavar="N", help="use the first N images only")
    parser.add_argument(
        "--finder", choices=FINDERS,
        help="where the hands come from, as in handpose predict (default: auto, the detector where its weights are there)",
    )  # fmt: skip
    parser.add_argument(
        "--synthetic", type=int, metavar="N",
        help="mix N synthetic hands (generated once into runs/cache) into half of every batch (default 0)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--device", help="torch device (default: cpu)")
    parser.set_defaults(func=_adapt)


#: The arguments that are :class:`~handpose.train.adapt.AdaptOptions` fields; left out, its default.
_OPTIONS = ("epochs", "rounds", "min_confidence", "batch_size", "lr", "limit", "finder", "synthetic", "seed", "device")


def _adapt(args: argparse.Namespace) -> int:
    from handpose.inference.sources import SourceError
    from handpose.inference.weights import WeightsError
    from handpose.skeleton import NUM_JOINTS
    from handpose.train.adapt import AdaptError, AdaptOptions, adapt

    given = {name: getattr(args, name) for name in _OPTIONS if getattr(args, name) is not None}
    try:
        options = AdaptOptions(**given)  # its defaults are the ones the help states
        summary = adapt(args.images, args.out, args.weights, options)
    except (AdaptError, SourceError, WeightsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"adapted on {summary.used} of the {summary.hands} hands found in {summary.images} images "
        f"({summary.unreadable} unreadable), {summary.joints_kept} of their {summary.used * NUM_JOINTS} joints kept"
    )
    print(
        f"mean pose confidence on the hands: {summary.confidence_before:.3f} before, "
        f"{summary.confidence_after:.3f} after"
    )
    print(f"wrote {summary.out}")
    return 0
