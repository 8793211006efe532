"""Prediction overlays: drawn where the hand is and nowhere else, labels inside the picture, and
video files that appear whole or not at all."""

from __future__ import annotations

import os
import stat

import cv2
import numpy as np
import pytest

from handpose.skeleton import FINGERS
from handpose.structures import HandPrediction
from handpose.viz.prediction_overlay import OverlayVideoWriter, draw_predictions, write_overlay_image

BACKGROUND = 90


def _hand(
    centre: tuple[float, float] = (128.0, 150.0),
    size: float = 80.0,
    score: float = 0.9,
    side: str | None = "right",
    track_id: int | None = None,
) -> HandPrediction:
    """An open hand: the wrist at the bottom, five fingers fanning upwards."""
    cx, cy = centre
    keypoints = np.zeros((21, 2))
    keypoints[0] = (cx, cy + size / 2)
    for f, joints in enumerate(FINGERS.values()):
        angle = np.radians(-60 + 30 * f)
        for level, j in enumerate(joints):
            reach = size * (0.35 + 0.2 * level)
            keypoints[j] = (cx + reach * np.sin(angle), cy + size / 2 - reach * np.cos(angle))
    box = np.concatenate([keypoints.min(axis=0) - 5, keypoints.max(axis=0) + 5])
    return HandPrediction(
        box=box, keypoints=keypoints, keypoint_scores=np.full(21, score), hand_side=side, hand_score=0.8,
        track_id=track_id,
    )  # fmt: skip


def _changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.any(before != after, axis=2)


def test_drawn_on_the_hand_and_nowhere_far_from_it():
    image = np.full((256, 256, 3), BACKGROUND, np.uint8)
    hand = _hand()
    drawn = draw_predictions(image, [hand])
    assert drawn.shape == image.shape and drawn.dtype == np.uint8
    assert np.all(image == BACKGROUND)  # the input is left alone
    changed = _changed(image, drawn)
    for x, y in np.round(hand.keypoints).astype(int):
        assert changed[y, x], f"joint at ({x}, {y}) not drawn"
    x0, y0, x1, y1 = hand.box
    rows, columns = np.nonzero(changed)
    # everything drawn lies on the box (lines a few pixels wide) or in the label band above it
    assert columns.min() >= x0 - 3 and rows.max() <= y1 + 3
    assert rows.min() >= y0 - 25
    assert columns.max() <= max(x1 + 3, x0 + 100)


def test_low_score_joints_are_drawn_fainter():
    image = np.full((256, 256, 3), BACKGROUND, np.uint8)

    def ink(hand: HandPrediction) -> int:
        """How much the skeleton changes the picture inside the box (the box lines left out)."""
        x0, y0, x1, y1 = np.round(hand.box).astype(int)
        difference = draw_predictions(image, [hand]).astype(int) - image
        return int(np.abs(difference[y0 + 4 : y1 - 3, x0 + 4 : x1 - 3]).sum())

    assert ink(_hand(score=0.05)) < 0.7 * ink(_hand(score=0.9))
    assert ink(_hand(score=0.2)) == ink(_hand(score=0.9))


@pytest.mark.parametrize("size", [256, 4000])
def test_line_widths_grow_with_the_picture(size):
    image = np.full((size, size, 3), BACKGROUND, np.uint8)
    scale = size / 256
    hand = _hand(centre=(128 * scale, 150 * scale), size=80 * scale)
    changed = _changed(image, draw_predictions(image, [hand]))
    # the bone from the wrist to the middle finger's base, crossed halfway along its length
    a, b = hand.keypoints[0], hand.keypoints[FINGERS["middle"][0]]
    x, y = np.round((a + b) / 2).astype(int)
    width = changed[y, x - int(5 * scale) : x + int(5 * scale)].sum()  # anti-aliasing adds 1-2 pixels
    assert (2 <= width <= 5) if size == 256 else (10 <= width <= 18)


@pytest.mark.parametrize(
    "size, box, track_id",
    [
        (64, (40.0, 0.0, 63.0, 20.0), None),  # top-right corner: no room above, none to the right
        (64, (0.0, 44.0, 20.0, 63.0), 12),  # bottom-left, a label wider than the picture at first
        (200, (150.0, 180.0, 260.0, 260.0), None),  # a box running off the picture
    ],
)
def test_label_stays_inside_the_picture(size, box, track_id):
    image = np.full((size, size, 3), 255, np.uint8)
    hand = HandPrediction(
        box=np.array(box), keypoints=np.full((21, 2), np.nan), keypoint_scores=np.full(21, 0.93),
        hand_side="right", track_id=track_id,
    )  # fmt: skip
    drawn = draw_predictions(image, [hand])
    dark = np.all(drawn < 100, axis=2)  # the label's text is the only dark ink
    assert dark.sum() > 20
    rows, columns = np.nonzero(dark)
    assert rows.min() > 0 and columns.min() > 0 and rows.max() < size - 1 and columns.max() < size - 1


def test_rejects_non_rgb_images():
    with pytest.raises(ValueError, match="expected an RGB"):
        draw_predictions(np.zeros((32, 32), np.uint8), [])


def test_overlay_image_is_written(tmp_path):
    image = draw_predictions(np.full((128, 128, 3), BACKGROUND, np.uint8), [_hand((64, 75), 40)])
    path = write_overlay_image(tmp_path / "out" / "overlay.png", image)
    np.testing.assert_array_equal(cv2.imread(str(path))[:, :, ::-1], image)
    assert os.listdir(tmp_path / "out") == ["overlay.png"]


def _frames(count: int, size: tuple[int, int]) -> list[np.ndarray]:
    width, height = size
    return [np.full((height, width, 3), (40 * i, 120, 200), np.uint8) for i in range(count)]


def _read_video(path) -> tuple[int, tuple[int, int]]:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened()
    count, shape = 0, None
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        count, shape = count + 1, frame.shape
    capture.release()
    return count, (shape[1], shape[0])


@pytest.mark.parametrize("size, encoded", [((64, 48), (64, 48)), ((65, 47), (64, 46))])
def test_video_writer_writes_a_readable_file(tmp_path, size, encoded):
    path = tmp_path / "overlay.mp4"
    with OverlayVideoWriter(path, 10.0, size) as video:
        for frame in _frames(6, size):
            video.write(frame)
        assert not path.exists()  # only the temporary file exists while writing
    assert video.frames == 6
    assert _read_video(path) == (6, encoded)
    assert os.listdir(tmp_path) == ["overlay.mp4"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_video_writer_leaves_nothing_behind_on_an_error(tmp_path):
    path = tmp_path / "overlay.mp4"
    with pytest.raises(RuntimeError, match="model failed"):
        with OverlayVideoWriter(path, 10.0, (64, 48)) as video:
            for frame in _frames(3, (64, 48)):
                video.write(frame)
            raise RuntimeError("model failed")
    assert os.listdir(tmp_path) == []
    path.write_bytes(b"an earlier video")
    with pytest.raises(ValueError, match=r"frame has shape \(48, 60, 3\)"):
        with OverlayVideoWriter(path, 10.0, (64, 48)) as video:
            video.write(np.zeros((48, 60, 3), np.uint8))  # OpenCV would drop it silently
    assert os.listdir(tmp_path) == ["overlay.mp4"] and path.read_bytes() == b"an earlier video"


def test_video_writer_without_frames_makes_no_file(tmp_path):
    with pytest.raises(ValueError, match="no frames were written"):
        with OverlayVideoWriter(tmp_path / "empty.mp4", 25.0, (64, 48)):
            pass
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="frame rate"):
        OverlayVideoWriter(tmp_path / "bad.mp4", 0.0, (64, 48))


def test_a_hand_with_3d_gets_a_turned_view_in_the_top_right_corner_that_shows_its_depth():
    from dataclasses import replace

    from handpose.viz.skeleton_3d_view import PANEL_SHARE

    image = np.full((256, 256, 3), BACKGROUND, np.uint8)
    flat = _hand(centre=(90.0, 170.0), size=60.0)
    points = np.concatenate([flat.keypoints - flat.keypoints[0], np.zeros((21, 1))], axis=1)
    without = draw_predictions(image, [flat])
    assert not _changed(image, without)[:64, 192:].any()  # no 3D, no panel
    views = []
    for depth in (0.0, 40.0):  # the same hand, its fingers flat or pointing away from the camera
        shaped = points.copy()
        shaped[[4, 8, 12, 16, 20], 2] = depth
        views.append(draw_predictions(image, [replace(flat, keypoints_3d=shaped)]))
    panel = round(PANEL_SHARE * 256)
    changed = _changed(without, views[0])
    rows, columns = np.nonzero(changed)
    assert rows.max() < panel + 8 and columns.min() > 256 - panel - 8  # only the corner panel changes
    assert np.all(views[0][rows.min(), columns.min():columns.max() + 1] == (255, 190, 0))  # framed in the side's colour
    assert _changed(views[0], views[1]).any()  # depth alone changes the view
