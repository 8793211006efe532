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
