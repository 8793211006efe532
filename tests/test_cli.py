import subprocess
import sys

from handpose.cli.main import COMMAND_MODULES, build_parser


def test_help_lists_every_registered_subcommand():
    help_text = build_parser().format_help()
    for module in COMMAND_MODULES:
        assert module.rsplit(".", 1)[-1] in help_text


def test_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "handpose.cli.main", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "usage: handpose" in out.stdout
