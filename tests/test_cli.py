import argparse
import importlib
import re
import subprocess
import sys

from handpose.cli.main import COMMAND_MODULES, build_parser


def _registered_subcommands(module_name: str) -> set[str]:
    """The subcommand names ``module_name.register`` adds, read from a parser of their own."""
    subparsers = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(module_name).register(subparsers)
    return set(subparsers.choices)


def test_help_lists_every_registered_subcommand():
    names = set().union(*(_registered_subcommands(module) for module in COMMAND_MODULES))
    assert {"train", "eval", "synth", "data", "demo"} <= names
    help_text = build_parser().format_help()
    for name in names:  # a row of the command list, not a word in the description
        assert re.search(rf"^ +{re.escape(name)}( |$)", help_text, re.MULTILINE), f"{name} missing from --help:\n{help_text}"


def test_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "handpose.cli.main", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "usage: handpose" in out.stdout


def test_openmp_threads_sleep_where_torch_shares_the_cores_and_torch_is_not_loaded_before():
    """PASSIVE waiting keeps a training's threads off its loader workers' cores and torch's off
    onnxruntime's, but made torch inference 2.4 to 3 times slower; the choice is made after
    parsing, before torch loads OpenMP."""
    from handpose.cli.main import passive_threads

    parser = build_parser()
    assert passive_threads(parser.parse_args(["train", "configs/default.yaml"]))
    assert passive_threads(parser.parse_args(["adapt", "--images", "x", "--out", "y.pt"]))
    assert passive_threads(parser.parse_args(["demo", "--train"]))
    assert passive_threads(parser.parse_args(["predict", "photo.jpg", "--backend", "onnx"]))
    assert passive_threads(parser.parse_args(["benchmark", "--data", "coco:x.json", "--backends", "onnx"]))
    # the demo's whole images run on onnxruntime where it is installed, on torch where not
    from importlib.util import find_spec

    from handpose.demo import whole_image_backend

    assert whole_image_backend() == ("onnx" if find_spec("onnxruntime") is not None else "torch")
    assert passive_threads(parser.parse_args(["demo"])) == (whole_image_backend() == "onnx")
    assert not passive_threads(parser.parse_args(["predict", "photo.jpg"]))
    assert not passive_threads(parser.parse_args(["eval", "default", "--data", "coco:x.json"]))
    assert not passive_threads(parser.parse_args(["benchmark", "--data", "coco:x.json"]))  # torch,onnx
    code = "import sys; from handpose.cli.main import build_parser; build_parser().parse_args(['eval', 'default', '--data', 'coco:x']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
