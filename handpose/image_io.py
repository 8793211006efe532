"""Reading and writing images with errors that name the file and the sample."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from handpose.structures import SampleError

_UMASK = os.umask(0)
os.umask(_UMASK)

#: The names :func:`open_atomic` gives its temporary files: ``.<target name>.<8 characters of
#: tempfile.mkstemp>.tmp``; hidden, and distinct from any file a run writes on purpose.
_TEMP_PREFIX, _TEMP_SUFFIX = ".", ".tmp"
_TEMP_NAME = re.compile(rf"{re.escape(_TEMP_PREFIX)}.+\.[a-z0-9_]{{8}}{re.escape(_TEMP_SUFFIX)}")


def read_rgb(path: str | Path, sample_id: str | None = None) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3); a missing or unreadable file raises SampleError."""
    path = Path(path)
    who = f" (sample {sample_id!r})" if sample_id is not None else ""
    if not path.is_file():
        raise SampleError(f"{path}{who}: image file is missing")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise SampleError(f"{path}{who}: image is truncated or not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def size_mismatch(path: str | Path, actual: tuple[int, int], declared: tuple[int, int] | None) -> str | None:
    """Why an image of ``actual`` (width, height) does not fit labels made for ``declared``, or None
    when it does or no size was declared: keypoints drawn on another size of the picture would be
    scored against the wrong pixels without any error."""
    if declared is None or tuple(declared) == tuple(actual):
        return None
    return f"image {path} is {actual[0]}x{actual[1]} but its label says {declared[0]}x{declared[1]}"


def read_single_channel(path: str | Path, what: str, sample_id: str | None = None) -> np.ndarray:
    """Read a label or depth map stored as ``.npy`` or a (16-bit) single-channel image, unchanged."""
    path = Path(path)
    who = f" (sample {sample_id!r})" if sample_id is not None else ""
    try:
        data = np.load(path) if path.suffix == ".npy" else cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    except (OSError, ValueError) as error:
        raise SampleError(f"{path}{who}: cannot read the {what}: {error}") from error
    if data is None or data.ndim != 2:
        raise SampleError(f"{path}{who}: the {what} is missing, unreadable or not a single-channel map")
    return data


def write_rgb_atomic(path: str | Path, image: np.ndarray, jpeg_quality: int = 95) -> None:
    """Write an RGB image so that a reader never sees a half-written file (temp file, then rename)."""
    path = Path(path)
    ext = path.suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if ext in (".jpg", ".jpeg") else []
    image = np.asarray(image)
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, encoded = cv2.imencode(ext, bgr, params)
    if not ok:
        raise OSError(f"{path}: could not encode image as {ext}")
    write_bytes_atomic(path, encoded.tobytes())


@contextmanager
def open_atomic(path: str | Path, durable: bool = False) -> Iterator[BinaryIO]:
    """A binary file that appears at ``path`` only once fully written: a temporary file in the same
    folder renamed over ``path``; on an error the temporary file is removed and ``path`` untouched.
    ``durable`` also flushes it to disk before the rename (checkpoints; not worth it per image)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{_TEMP_PREFIX}{path.name}.", suffix=_TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files :func:`open_atomic` left in ``folder`` and return them.

    A process killed mid-write (a pre-empted node, SIGKILL) never reaches open_atomic's clean-up,
    so its temporary file stays behind, often empty. Only names of open_atomic's pattern are
    removed; a missing folder has none. Call it only when no other process writes there.
    """
    if not folder.is_dir():
        return []
    stale = sorted(entry for entry in folder.iterdir() if _TEMP_NAME.fullmatch(entry.name) and entry.is_file())
    for entry in stale:
        entry.unlink(missing_ok=True)
    return stale


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write bytes to ``path`` through :func:`open_atomic`."""
    with open_atomic(path) as f:
        f.write(data)
