"""Atomic writes: what a process killed mid-write leaves behind is found and removed, nothing else."""

import signal
import subprocess
import sys

from handpose.image_io import remove_stale_temporaries, write_bytes_atomic

KILLED_WHILE_WRITING = """
import os, signal, sys
from handpose.image_io import open_atomic
with open_atomic(sys.argv[1], durable=True):
    os.kill(os.getpid(), signal.SIGKILL)  # as a pre-empted node: no rename, no clean-up
"""


def _killed_mid_write(path):
    """The temporary file of an open_atomic write whose process was killed inside it."""
    died = subprocess.run([sys.executable, "-c", KILLED_WHILE_WRITING, str(path)])
    assert died.returncode == -signal.SIGKILL
    (temporary,) = [p for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")]
    return temporary


def test_stale_temporaries_are_removed_and_other_files_kept(tmp_path):
    write_bytes_atomic(tmp_path / "last.ckpt", b"previous checkpoint")
    stale = sorted([_killed_mid_write(tmp_path / "last.ckpt"), _killed_mid_write(tmp_path / "best.ckpt")])
    assert all(p.stat().st_size == 0 for p in stale)
    kept = ["last.ckpt", "notes.tmp", ".hidden", ".last.ckpt.tmp", "epoch=3.ckpt"]
    for name in kept[1:]:
        (tmp_path / name).write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path) == stale
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)
    assert (tmp_path / "last.ckpt").read_bytes() == b"previous checkpoint"
    assert remove_stale_temporaries(tmp_path) == []


def test_missing_folder_has_no_temporaries(tmp_path):
    assert remove_stale_temporaries(tmp_path / "checkpoints") == []
    assert not (tmp_path / "checkpoints").exists()
