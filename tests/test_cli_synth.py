"""``handpose synth`` with a bad command line: one error line on stderr and exit status 2, no traceback."""

import pytest

from handpose.cli.main import main


def _single_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith("handpose synth: ")
    return lines[0]


@pytest.mark.parametrize(
    "option, value, problem",
    [
        ("--count", "0", "--count must be at least 1, got 0"),
        ("--count", "-3", "--count must be at least 1, got -3"),
        ("--size", "0", "--size must be between 32 and 4096 pixels, got 0"),
        ("--size", "-5", "--size must be between 32 and 4096 pixels, got -5"),
        ("--size", "1000000", "--size must be between 32 and 4096 pixels, got 1000000"),
        ("--seed", "-1", "--seed must be at least 0, got -1"),
        ("--workers", "0", "--workers must be at least 1, got 0"),
    ],
)
def test_bad_numbers_exit_2_with_one_line(tmp_path, capsys, option, value, problem):
    arguments = {"--out": str(tmp_path / "out"), "--count": "2", "--size": "32", option: value}
    assert main(["synth", *(item for pair in arguments.items() for item in pair)]) == 2
    assert problem in _single_error_line(capsys)
    assert not (tmp_path / "out").exists()  # stopped before touching the output


def test_output_below_a_file_exits_2_naming_it(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    out = tmp_path / "file" / "out"
    assert main(["synth", "--out", str(out), "--count", "1", "--size", "32"]) == 2
    line = _single_error_line(capsys)
    assert str(out) in line and "cannot create the folder" in line


def test_output_that_is_a_file_exits_2_naming_it(tmp_path, capsys):
    out = tmp_path / "taken"
    out.write_text("not a folder")
    assert main(["synth", "--out", str(out), "--count", "1", "--size", "32"]) == 2
    assert f"--out {out} is a file, not a folder" in _single_error_line(capsys)


def test_write_failure_midway_exits_1_with_one_line(tmp_path, capsys):
    (tmp_path / "images").write_text("a file where the image folder goes")
    assert main(["synth", "--out", str(tmp_path), "--count", "1", "--size", "32"]) == 1
    err = capsys.readouterr().err  # the progress bar shares stderr: look for the error itself
    assert "Traceback" not in err and err.count("handpose synth: ") == 1
    assert f"handpose synth: writing {tmp_path} failed" in err
