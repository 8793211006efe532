"""``handpose export CKPT_OR_NAME --out FILE [--onnx]``: a compact weights file or an ONNX model.

The weights file holds the estimator's name and settings, its input spec and its weights in fp16
(:mod:`handpose.inference.weights`): what ``handpose predict --weights``, ``handpose eval`` and
``handpose.Predictor`` load without the training package. With ``--onnx`` the network alone is
written as an ONNX model for onnxruntime, with the spec in its metadata and decoding left outside
the graph (:mod:`handpose.inference.onnx_backend`; needs ``handpose[onnx]``). The input may also
be a weights file or a bundled weights name ("default"). Exit status 1 for an unreadable input or
a missing ONNX package.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a training checkpoint as a compact weights file or an ONNX model",
        description=__doc__.split("\n\n")[1],
    )
    parser.add_argument("checkpoint", type=Path, metavar="CKPT_OR_NAME",
                        help="training checkpoint (.ckpt), weights file or bundled weights name")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE",
                        help="file to write, e.g. hand2d.pt (hand2d.onnx with --onnx)")
    parser.add_argument("--onnx", action="store_true",
                        help="write the network as an ONNX model (decoding stays outside the graph)")
    parser.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from handpose.inference.onnx_backend import ONNX_OPSET, export_onnx
    from handpose.inference.weights import WeightsError, load_estimator, save_weights

    metadata = {"exported_from": args.checkpoint.name}
    try:
        estimator = load_estimator(args.checkpoint)
        path = export_onnx(estimator, args.out, metadata) if args.onnx else save_weights(estimator, args.out, metadata)
    except WeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    parameters = sum(p.numel() for p in estimator.parameters())
    kind = f", ONNX opset {ONNX_OPSET}" if args.onnx else ""
    size_mb = path.stat().st_size / 1e6
    print(f"wrote {path} ({estimator.name}{kind}, {parameters / 1e6:.2f} M parameters, {size_mb:.1f} MB)")
    return 0
