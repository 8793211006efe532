"""Decoding the depth maps that datasets pack into 8-bit colour PNGs.

A reader that finds such a file sets ``HandSample.depth`` to a :class:`PackedDepth` naming the file
and its packing, so the sample type knows nothing of datasets: it calls ``load()``, and
:func:`read_depth_mm` turns the file into float32 millimetres.

- ``"rhd"``: RHD's ``depth/%05d.png``, red the top 8 bits and green the bottom 8 bits of a 16-bit
  value spanning 0-5 m (``(R * 256 + G) / 65535 * 5`` metres), as RHD's own example code decodes it.
- ``"stb"``: STB's ``SK_depth_%d.png``, red the low and green the high byte of millimetres.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from handpose.structures import SampleError

DEPTH_ENCODINGS: tuple[str, ...] = ("rhd", "stb")


@dataclass(frozen=True)
class PackedDepth:
    """A depth file in one of :data:`DEPTH_ENCODINGS`, read when the sample's depth is needed."""

    path: Path
    encoding: str

    def load(self) -> np.ndarray:
        return read_depth_mm(self.path, self.encoding)


def packed_depth(path: Path | None, encoding: str) -> PackedDepth | None:
    """A :class:`PackedDepth` for ``path``, or None where the reader found no depth file."""
    return None if path is None else PackedDepth(path, encoding)


def read_depth_mm(path: str | Path, encoding: str) -> np.ndarray:
    """(H, W) float32 depth in millimetres from a colour-packed depth PNG."""
    if encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"unknown depth encoding {encoding!r}; known: {', '.join(DEPTH_ENCODINGS)}")
    path = Path(path)
    if not path.is_file():
        raise SampleError(f"{path}: depth file is missing")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SampleError(f"{path}: depth file is truncated or not a readable image")
    red, green = bgr[..., 2].astype(np.float32), bgr[..., 1].astype(np.float32)
    if encoding == "rhd":
        return (red * 256.0 + green) * np.float32(5000.0 / 65535.0)
    return green * 256.0 + red
