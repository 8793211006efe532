"""``handpose wholebody --people PEOPLE.json IMAGE_OR_DIR``: hands for the people of a body pose file.

PEOPLE.json holds COCO-style person annotations or results with body keypoints (COCO-17, or
COCO-WholeBody's 133) from any tool; the images are found by file_name in IMAGE_OR_DIR (one image:
only its people). Each person's hand boxes come from the forearms (or the hand keypoints or boxes
the file already has), moved onto the hand detector's box where it finds a hand inside one
(``--detector``; by default the bundled detector, where one ships), and every hand of an image is
estimated in one batch with the hand network.
Writes DIR/<PEOPLE.json's name>: the same file with lefthand_kpts / righthand_kpts (21 x [x, y,
score], flattened as COCO-WholeBody does), lefthand_box / righthand_box, lefthand_valid /
righthand_valid, lefthand_orientation / righthand_orientation and where each box came from
(lefthand_finder / righthand_finder) in each person record; ``--save-overlays`` also writes
DIR/overlays/<name>.jpg with the body and the hands. A missing image or a malformed record is named
with the reason and the rest go on; the exit status is 1 when any was met, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "wholebody",
        help="add hand keypoints to the people of a COCO-style body pose file",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument("images", type=Path, metavar="IMAGE_OR_DIR", help="the images' folder, or one image")
    parser.add_argument(
        "--people",
        type=Path,
        required=True,
        metavar="PEOPLE.json",
        help="COCO-style person annotations or results with body keypoints (COCO-17 or COCO-WholeBody 133)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("wholebody"), metavar="DIR", help="output folder (default: wholebody)"
    )
    parser.add_argument(
        "--weights", default="hand_stage",
        help="bundled weights name, weights file or checkpoint (default: hand_stage, the hand network fine-tuned "
        "on whole people's small hands)",
    )
    parser.add_argument(
        "--detector",
        default="auto",
        help="hand detector that refines the boxes from forearms and wrists: auto (the bundled one where it is "
        "there), none, or a weights name or file (default: auto)",
    )
    parser.add_argument("--save-overlays", action="store_true", help="draw bodies and hands on the images")
    parser.add_argument(
        "--min-score",
        type=float,
        default=None,
        metavar="S",
        help="body keypoints whose score or flag exceeds S count (default: 0.3; annotation flags 1 and 2 pass)",
    )
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.set_defaults(func=_wholebody)


def _wholebody(args: argparse.Namespace) -> int:
    from handpose.inference.weights import WeightsError
    from handpose.wholebody.hand_boxes import MIN_SCORE, load_detector

    if not args.images.exists():
        print(f"error: {args.images}: no such image or folder", file=sys.stderr)
        return 2
    try:
        from handpose.inference.predictor import Predictor
        from handpose.wholebody.run import run_wholebody

        predictor = Predictor(args.weights, device=args.device, finder="whole_image")  # the boxes are given
        summary = run_wholebody(
            predictor, args.people, args.images, args.out, args.save_overlays,
            detect=load_detector(args.detector, args.device),
            min_score=MIN_SCORE if args.min_score is None else args.min_score,
        )  # fmt: skip
    except (WeightsError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finders = ", ".join(f"{count} {finder}" for finder, count in sorted(summary["hands_by_finder"].items()))
    print(
        f"{summary['people']} people in {summary['images']} images, {summary['hands']} hands"
        + (f" (boxes from: {finders})" if finders else "")
        + f", {summary['missing_images']} missing images, {summary['bad_records']} bad records"
    )
    print(f"wrote {summary['output']}" + (" and overlays" if args.save_overlays else ""))
    return 1 if summary["missing_images"] or summary["bad_records"] else 0
