"""Contact sheets: many hands at a glance, each cropped around its box with its skeleton drawn.

The quickest check that a reader is right is to look: the skeleton must lie on the hand, thumb in
red, pinky in violet (:data:`handpose.skeleton.FINGER_COLORS`). Each tile is a square crop around
the hand's box, scaled to the tile size, with the sample id as its caption.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from handpose.image_io import write_rgb_atomic
from handpose.structures import HandSample, SampleError
from handpose.viz.skeleton_overlay import draw_skeleton

_BACKGROUND = (40, 40, 40)
_CAPTION_HEIGHT = 16
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FONT_SCALE = 0.38
#: Tiles too narrow for "..." and this many end characters of a caption get a smaller font, down
#: to _MIN_FONT_SCALE (capitals 5 pixels high, half the usual: the smallest still legible up close).
_KEPT_CHARACTERS = 4
_MIN_FONT_SCALE = 0.2


def hand_tile(sample: HandSample, tile_size: int = 192, margin: float = 0.25) -> np.ndarray:
    """An RGB (tile_size + caption, tile_size, 3) tile: the hand's box grown by ``margin`` on each
    side, as a square, with the skeleton and the sample id. Reading the image may raise SampleError."""
    image = sample.load_image()
    x0, y0, x1, y1 = np.asarray(sample.box, dtype=np.float64)
    side = max(x1 - x0, y1 - y0, 8.0) * (1.0 + 2.0 * margin)
    scale = tile_size / side
    centre = np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0])
    shift = (tile_size - 1) / 2.0 - scale * centre  # the box centre goes to the tile centre
    affine = np.array([[scale, 0.0, shift[0]], [0.0, scale, shift[1]]])
    crop = cv2.warpAffine(image, affine, (tile_size, tile_size), flags=cv2.INTER_LINEAR, borderValue=_BACKGROUND)
    keypoints = np.asarray(sample.keypoints_2d, dtype=np.float64) * scale + shift
    drawn = draw_skeleton(crop, keypoints, sample.visibility)
    return np.concatenate([drawn, _caption(sample.sample_id, tile_size)], axis=0)


def contact_sheet(
    samples: Iterable[HandSample], tile_size: int = 192, columns: int | None = None, skip_unreadable: bool = False
) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """All samples' tiles in a grid (``columns`` defaults to a near-square layout), and the
    (sample id, reason) of each sample whose image could not be read under ``skip_unreadable``."""
    tiles, skipped = [], []
    for sample in samples:
        try:
            tiles.append(hand_tile(sample, tile_size))
        except SampleError as error:
            if not skip_unreadable:
                raise
            skipped.append((sample.sample_id, str(error)))
    if not tiles:
        raise SampleError("no sample could be drawn: the contact sheet would be empty")
    columns = columns or math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    height, width = tiles[0].shape[:2]
    sheet = np.full((rows * height, columns * width, 3), _BACKGROUND, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        row, column = divmod(i, columns)
        sheet[row * height : (row + 1) * height, column * width : (column + 1) * width] = tile
    return sheet, skipped


def write_contact_sheet(path: str | Path, sheet: np.ndarray) -> None:
    """Write the sheet as an image file (PNG advised) without ever leaving a half-written file."""
    write_rgb_atomic(path, sheet)


def _caption(text: str, width: int) -> np.ndarray:
    band = np.zeros((_CAPTION_HEIGHT, width, 3), dtype=np.uint8)
    fitted, scale = _fitted_caption(text, width)
    cv2.putText(band, fitted, (2, _CAPTION_HEIGHT - 5), _FONT, scale, (235, 235, 235), 1, cv2.LINE_AA)
    return band


def _fitted_caption(text: str, width: int) -> tuple[str, float]:
    """What of ``text`` to draw in a band ``width`` pixels wide, and at which font scale: all of it
    when it fits, else "..." and its end (where ids and labels differ), the font shrunk first on
    tiles too narrow for even a few characters; "" when not one character fits."""
    room = width - 4  # 2 pixels either side
    scale = _FONT_SCALE
    shortest = text if len(text) <= _KEPT_CHARACTERS else "..." + text[-_KEPT_CHARACTERS:]
    while _text_width(shortest, scale) > room and scale > _MIN_FONT_SCALE:
        scale = max(_MIN_FONT_SCALE, 0.8 * scale)
    for start in range(len(text)):
        fitted = "..." + text[start:] if start else text
        if _text_width(fitted, scale) <= room:
            return fitted, scale
    return "", scale


def _text_width(text: str, scale: float) -> int:
    return cv2.getTextSize(text, _FONT, scale, 1)[0][0]
