"""Long titles and captions stay inside the picture: wrapped, shrunk or cut at the front, never
cut off at the image edge."""

import cv2
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from handpose.metrics import pck_thresholds
from handpose.structures import HandSample
from handpose.viz.contact_sheet import _CAPTION_HEIGHT, _fitted_caption, hand_tile
from handpose.viz.curves import pck_figure

LONG_CAPTION = "images/a_very_long_folder_name/0000123.jpg#4567 | predicted, EPE 12.3px"

LONG_PATH_TITLE = (
    "PCK on a_dataset_folder_with_an_uncommonly_long_name_for_the_validation_split/"
    "annotations_of_every_hand_in_the_validation_split_2024.json, crop pixels (256 x 256 model input)"
)


@pytest.mark.parametrize("title", [LONG_PATH_TITLE, "PCK " * 60, "x" * 400, "PCK on uci_hand"])
def test_pck_title_lies_inside_the_figure(title):
    thresholds = pck_thresholds(0, 30, 20)
    figure = pck_figure({"ours": (thresholds, np.linspace(0.0, 1.0, thresholds.size))}, title=title)
    box = figure.axes[0].title.get_window_extent(FigureCanvasAgg(figure).get_renderer())
    assert box.x0 >= 0 and box.x1 <= figure.bbox.width and box.y0 >= 0 and box.y1 <= figure.bbox.height
    assert figure.axes[0].title.get_text().replace("\n", "").replace(" ", "") == title.replace(" ", "")


def test_short_title_is_not_wrapped():
    thresholds = pck_thresholds(0, 30, 20)
    figure = pck_figure({"ours": (thresholds, np.linspace(0.0, 1.0, thresholds.size))}, title="PCK on uci_hand")
    assert figure.axes[0].title.get_text() == "PCK on uci_hand"


def _caption_ink_columns(tile: np.ndarray, tile_size: int) -> np.ndarray:
    band = tile[tile_size:]
    assert band.shape[0] == _CAPTION_HEIGHT
    return np.flatnonzero(band.max(axis=(0, 2)) > 0)


@pytest.mark.parametrize("tile_size", [16, 24, 48, 96, 192])
def test_long_caption_fits_its_tile_and_keeps_its_end(tile_size):
    keypoints = np.random.default_rng(0).uniform(16, 48, (21, 2))
    sample = HandSample(
        image=np.zeros((64, 64, 3), np.uint8), keypoints_2d=keypoints, visibility=np.full(21, 2, np.int8),
        hand_side="right", box=np.array([16.0, 16.0, 48.0, 48.0]), source="test", sample_id=LONG_CAPTION,
    )
    tile = hand_tile(sample, tile_size)
    ink = _caption_ink_columns(tile, tile_size)
    assert ink.size and ink[-1] < tile_size - 1  # drawn, with no stroke reaching the right edge


def test_caption_text_fits_by_cv2_measure_and_keeps_its_end():
    text = LONG_CAPTION
    for width in (16, 24, 48, 96, 192, 1000):
        fitted, scale = _fitted_caption(text, width)
        assert cv2.getTextSize(fitted, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] <= width - 4
        assert fitted == text or (fitted.startswith("...") and text.endswith(fitted[3:]))
    assert _fitted_caption(text, 1000)[0] == text
    assert _fitted_caption(text, 96)[0].endswith("12.3px")
