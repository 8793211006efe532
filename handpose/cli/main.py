"""Entry point of the ``handpose`` command.

Each subcommand lives in its own module under :mod:`handpose.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable taking the parsed
arguments and returning an exit status. Heavy imports happen inside those callables so that
``handpose --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "handpose.cli.demo",
    "handpose.cli.predict",
    "handpose.cli.wholebody",
    "handpose.cli.synth",
    "handpose.cli.data",
    "handpose.cli.train",
    "handpose.cli.adapt",
    "handpose.cli.side_head",
    "handpose.cli.eval",
    "handpose.cli.benchmark",
    "handpose.cli.export",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="handpose",
        description="Hand pose estimation from single RGB images: data, training, evaluation, inference.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def _version() -> str:
    from handpose import __version__

    return __version__


def passive_threads(args: argparse.Namespace) -> bool:
    """Whether torch's OpenMP threads should sleep while they wait (``OMP_WAIT_POLICY=PASSIVE``).

    Yes where torch shares the cores with other work: a training's data-loader workers and render
    processes (``train``, ``adapt``, ``demo --train``; spinning threads slowed training steps more
    than tenfold on 2 cores), or onnxruntime's threads where it runs the networks and torch only
    prepares crops (``--backend onnx``; 26 against 35 ms an image with both cores), as in ``demo``
    where onnxruntime is installed (its whole images run there: ``make demo`` 1 min 01 s against
    1 min 49 s with spinning threads, 38 against 88 ms an image). No where torch runs the
    networks: there sleeping threads made each image 2.4 to 3 times slower (the whole-image path
    130 against 55 ms on 2 cores).
    """
    if args.command in ("train", "adapt"):
        return True
    if args.command == "demo":
        from handpose.demo import whole_image_backend  # imports no torch

        return getattr(args, "train", None) is not None or whole_image_backend() == "onnx"
    backends = getattr(args, "backend", None) or getattr(args, "backends", None) or "torch"
    return "torch" not in backends.split(",")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # imports no torch: each command imports it when it runs
    if passive_threads(args):
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
