"""``handpose data``: check a dataset before using it, and look at its labels.

``handpose data check --format FMT PATH`` reads the dataset and reports what it holds and what
could not be used and why; the exit status is 1 when nothing usable is left (or, under the default
``--policy error``, at the first bad sample), 2 for a wrong command line. ``handpose data show``
writes a contact sheet PNG of randomly chosen hands with their skeletons drawn. ``handpose data
formats`` lists the formats with their layouts and reader options.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handpose.data.readers import ReadResult

#: Shown in the help; kept equal to handpose.data.readers.FORMATS by a test (no import here: --help stays fast).
FORMAT_NAMES = ("coco", "rhd", "freihand", "panoptic", "onehand10k", "stb", "interhand", "coco_wholebody")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="check datasets and look at their labels", description=__doc__.split("\n\n")[1])
    actions = parser.add_subparsers(dest="data_action", metavar="ACTION", required=True)

    check = actions.add_parser("check", help="read a dataset and report counts, bad samples and statistics")
    _add_dataset_arguments(check)
    check.add_argument("--check-images", action="store_true", help="also decode every image (finds truncated files)")
    check.set_defaults(func=_check)

    show = actions.add_parser("show", help="write a contact sheet of hands with their skeletons drawn")
    _add_dataset_arguments(show)
    show.add_argument("--out", type=Path, required=True, help="PNG file to write")
    show.add_argument("--count", type=int, default=36, help="number of hands (default 36)")
    show.add_argument("--seed", type=int, default=0, help="seed of the random choice of hands")
    show.add_argument("--tile-size", type=int, default=192, help="side of each tile in pixels")
    show.set_defaults(func=_show)

    formats = actions.add_parser("formats", help="list the dataset formats and their reader options")
    formats.set_defaults(func=_formats)


def _add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="dataset folder or annotation file, as the format expects")
    parser.add_argument("--format", required=True, metavar="FMT", help=f"dataset format: {', '.join(FORMAT_NAMES)}")
    parser.add_argument("--split", help="split to read, where the format has splits")
    parser.add_argument(
        "--policy", choices=("error", "skip"), default="error", help="on a bad sample: stop with an error, or skip it and report it"
    )
    parser.add_argument(
        "-o", "--option", action="append", default=[], metavar="KEY=VALUE",
        help="reader option, repeatable, e.g. -o joint_order=rhd_hand or -o image_root=/data/coco/val2017",
    )


def _check(args: argparse.Namespace) -> int:
    from handpose.data.check import check_dataset, format_report

    read = _read(args)
    if isinstance(read, int):
        return read
    try:
        report = check_dataset(read, check_images=args.check_images, policy=args.policy)
    except ValueError as error:  # SampleError included: a bad image under --policy error
        print(f"error: {error}", file=sys.stderr)
        return 1
    title = f"{args.format} dataset {args.path}" + (f" (split {args.split})" if args.split else "")
    print(format_report(report, title))
    return 0 if report.usable else 1


def _show(args: argparse.Namespace) -> int:
    import numpy as np

    from handpose.structures import SampleError
    from handpose.viz.contact_sheet import contact_sheet, write_contact_sheet

    if args.count < 1:
        print("error: --count must be at least 1", file=sys.stderr)
        return 2
    read = _read(args)
    if isinstance(read, int):
        return read
    samples = read.samples
    if not samples:
        print(f"error: no usable sample in {args.path}; see handpose data check", file=sys.stderr)
        return 1
    chosen = np.sort(np.random.default_rng(args.seed).choice(len(samples), size=min(args.count, len(samples)), replace=False))
    try:
        sheet, unreadable = contact_sheet([samples[i] for i in chosen], args.tile_size, skip_unreadable=args.policy == "skip")
    except SampleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    write_contact_sheet(args.out, sheet)
    for _, reason in read.skipped + unreadable:
        print(f"skipped: {reason}")
    print(f"wrote {args.out}: {len(chosen) - len(unreadable)} hands of {len(samples)} good samples")
    return 0


def _formats(args: argparse.Namespace) -> int:
    from handpose.data.readers import FORMATS, format_summary, reader_options

    for fmt in FORMATS:
        options = ", ".join(f"{name}={default!r}" for name, default in reader_options(fmt).items())
        print(f"{fmt:<15} {format_summary(fmt)}" + (f"\n{'':<15} options: {options}" if options else ""))
    return 0


def _read(args: argparse.Namespace) -> ReadResult | int:
    """The dataset as read, or an exit status after printing why it could not be read."""
    from handpose.data.readers import read_dataset
    from handpose.structures import SampleError

    try:
        options = _parse_options(args.option)
        result = read_dataset(args.format, args.path, split=args.split, policy=args.policy, **options)
    except SampleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return result


def _parse_options(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings as reader options; values read as YAML scalars (numbers, booleans, text)."""
    import yaml

    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"reader option {pair!r} is not KEY=VALUE")
        options[key.strip()] = yaml.safe_load(value)
    return options
