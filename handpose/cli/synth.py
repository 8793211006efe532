"""``handpose synth``: render a synthetic hand dataset with exact labels.

``handpose synth --out DIR --count N`` writes N pictures (one or two hands each) with 2D/3D
keypoints, visibility, masks and depth, in the COCO-style layout (``DIR/<split>.json`` and
``DIR/images/<split>/``) or RHD's (``DIR/<training|evaluation>/``). The same seed gives identical
files whatever the number of workers. ``--scene-kind detection`` renders 0-4 hands of all sizes for
a hand detector; ``--scene-kind whole_person`` 1-3 people with arms and mostly small hands, and
also writes the people in COCO-WholeBody's layout (``DIR/<split>_wholebody.json``). Exit status 2
for a bad command line (checked before any rendering), 1 when writing fails midway.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

#: Smallest picture side generate_dataset accepts (its own check, repeated here to stop before any work).
MIN_SIZE = 32
#: Largest picture side: one 2048-pixel render takes about 300 MB per worker, and memory grows with
#: the square of the side, so a larger value is a typo rather than a wish.
MAX_SIZE = 4096
#: handpose.synth.scene.SCENE_KINDS, repeated so that registering the command imports no renderer.
SCENE_KINDS = ("hands", "detection", "whole_person")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("synth", help="render a synthetic hand dataset", description=__doc__.split("\n\n")[1])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--count", type=int, required=True, help="number of pictures")
    parser.add_argument("--size", type=int, default=256, help=f"image side in pixels, {MIN_SIZE} to {MAX_SIZE} (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument("--format", choices=("coco", "rhd"), default="coco", help="layout to write (default coco)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--split", default="train", help="split name (default train; RHD maps train/val/test to its own)")
    parser.add_argument(
        "--scene-kind", choices=SCENE_KINDS, default="hands",
        help="hands: one or two hands framed for pose (default); detection: 0-4 hands of all sizes; whole_person: "
        "1-3 people with arms and mostly small hands, plus a COCO-WholeBody people file (coco layout only)",
    )
    parser.add_argument(
        "--backgrounds", choices=("procedural", "photos", "mixed"), default="procedural",
        help="painted rooms (default), real photographs (scikit-image's, installed wallpapers, --background-dir "
        "folders), or mixed (half each)",
    )
    parser.add_argument(
        "--background-dir", type=Path, action="append", default=[], dest="background_dirs", metavar="DIR",
        help="folder of photographs added to the pool (repeatable; with --backgrounds photos or mixed)",
    )
    parser.add_argument(
        "--bands-at-wrist", action="store_true",
        help="hands scenes: wrist bands from the wrist crease down, as people wear them, on 35%% of the forearms "
        "(default: 25%%, from 22 mm below the wrist; docs/results.md, 'Wrist bands where the wrist is')",
    )
    parser.set_defaults(func=_synth)


def _synth(args: argparse.Namespace) -> int:
    problem = _argument_problem(args) or _output_problem(args.out)
    if problem is not None:
        print(f"handpose synth: {problem}", file=sys.stderr)
        return 2
    from handpose.synth import generate_dataset

    try:
        path = generate_dataset(
            args.out,
            args.count,
            size=args.size,
            seed=args.seed,
            format=args.format,
            workers=args.workers,
            split=args.split,
            backgrounds=args.backgrounds,
            background_dirs=args.background_dirs,
            scene_kind=args.scene_kind,
            bands_at_wrist=args.bands_at_wrist,
        )
    except OSError as error:  # a full disk, a file where a subfolder should go, unreadable photographs
        print(f"handpose synth: writing {args.out} failed: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.count} pictures; annotations: {path}")
    return 0


def _argument_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the numbers and the backgrounds folder, or None."""
    if args.count < 1:
        return f"--count must be at least 1, got {args.count}"
    if not MIN_SIZE <= args.size <= MAX_SIZE:
        return f"--size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {args.size}"
    if args.seed < 0:
        return f"--seed must be at least 0, got {args.seed}"
    if args.workers < 1:
        return f"--workers must be at least 1, got {args.workers}"
    if args.scene_kind != "hands" and args.format != "coco":
        return f"--scene-kind {args.scene_kind} needs --format coco"
    if args.bands_at_wrist and args.scene_kind != "hands":
        return f"--bands-at-wrist is an option of hands scenes, not of --scene-kind {args.scene_kind}"
    if args.background_dirs and args.backgrounds == "procedural":
        return "--background-dir needs --backgrounds photos or mixed"
    if args.backgrounds != "procedural":
        from handpose.synth.photo_backgrounds import photo_pool

        try:
            photo_pool(tuple(args.background_dirs))  # lists the photos: a missing or empty folder is named
        except FileNotFoundError as error:
            return str(error)
    return None


def _output_problem(out: Path) -> str | None:
    """Why ``out`` cannot take the dataset, or None; creates the folder so that the answer is
    known before rendering starts rather than as a failure midway."""
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file, not a folder"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"--out {out}: cannot create the folder ({error.strerror})"
    if not os.access(out, os.W_OK | os.X_OK):
        return f"--out {out}: the folder is not writable"
    return None
