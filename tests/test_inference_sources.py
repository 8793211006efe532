"""Image sources for prediction: any image a user has read as upright RGB, and the frames of
folders, globs and videos with clear failures."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from handpose.inference.sources import (
    MIN_IMAGE_SIDE,
    Frame,
    FrameFailure,
    SourceError,
    load_image,
    open_source,
)
from handpose.structures import SampleError

RED, GREEN, BLUE, WHITE = (220, 30, 30), (30, 200, 40), (40, 60, 230), (250, 250, 250)


def _quadrants(height: int = 48, width: int = 64) -> np.ndarray:
    """An upright picture whose orientation can be read off: red top-left, green top-right, blue
    bottom-left, white bottom-right."""
    image = np.empty((height, width, 3), np.uint8)
    image[: height // 2, : width // 2] = RED
    image[: height // 2, width // 2 :] = GREEN
    image[height // 2 :, : width // 2] = BLUE
    image[height // 2 :, width // 2 :] = WHITE
    return image


def _assert_quadrants(image: np.ndarray, height: int = 48, width: int = 64) -> None:
    assert image.shape == (height, width, 3) and image.dtype == np.uint8
    h, w = height // 2, width // 2
    corners = {
        "top-left": (image[4 : h - 4, 4 : w - 4], RED),
        "top-right": (image[4 : h - 4, w + 4 : -4], GREEN),
        "bottom-left": (image[h + 4 : -4, 4 : w - 4], BLUE),
        "bottom-right": (image[h + 4 : -4, w + 4 : -4], WHITE),
    }
    for where, (patch, colour) in corners.items():
        mean = patch.reshape(-1, 3).mean(axis=0)
        assert np.all(np.abs(mean - colour) < 12), f"{where} is {mean.round()}, expected {colour}"


def _write_png(path: Path, pixels: np.ndarray) -> Path:
    """``pixels`` in OpenCV's channel order (BGR / BGRA), any depth."""
    assert cv2.imwrite(str(path), pixels)
    return path


# ---- load_image: what users' images look like ----------------------------------------------


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (20, 1))
    image = load_image(_write_png(tmp_path / "gray.png", gray))
    assert image.shape == (20, 64, 3) and image.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(image[:, :, channel], gray)


def test_colour_png_is_rgb(tmp_path):
    rgb = _quadrants()
    image = load_image(_write_png(tmp_path / "colour.png", rgb[:, :, ::-1]))
    np.testing.assert_array_equal(image, rgb)


def test_transparency_is_composited_on_white(tmp_path):
    bgra = np.zeros((20, 30, 4), np.uint8)
    bgra[:, :, :3] = (200, 100, 50)  # BGR: RGB (50, 100, 200)
    bgra[:, :10, 3] = 0  # transparent
    bgra[:, 10:20, 3] = 255  # opaque
    bgra[:, 20:, 3] = 128  # half
    image = load_image(_write_png(tmp_path / "rgba.png", bgra))
    assert image.shape == (20, 30, 3)
    np.testing.assert_array_equal(image[:, :10], 255)
    np.testing.assert_array_equal(image[:, 10:20], np.broadcast_to((50, 100, 200), (20, 10, 3)))
    half = 128 / 255
    expected = np.round(np.array([50, 100, 200]) * half + 255 * (1 - half))
    np.testing.assert_allclose(image[:, 20:], np.broadcast_to(expected, (20, 10, 3)), atol=1)


def test_gray_with_alpha_is_composited(tmp_path):
    Image.fromarray(np.dstack([np.full((20, 20), 40, np.uint8), np.full((20, 20), 0, np.uint8)]), "LA").save(
        tmp_path / "la.png"
    )
    np.testing.assert_array_equal(load_image(tmp_path / "la.png"), 255)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_is_scaled_not_truncated(tmp_path, suffix):
    levels = np.array([0, 257, 32896, 40000, 65535], np.uint16)  # -> 0, 1, 128, 156 (155.6), 255
    gray = np.tile(levels, (20, 4))
    image = load_image(_write_png(tmp_path / f"gray16{suffix}", gray))
    np.testing.assert_array_equal(image[0, :5, 0], [0, 1, 128, 156, 255])
    bgr = np.dstack([gray, gray // 2, np.full_like(gray, 65535)])
    image = load_image(_write_png(tmp_path / f"colour16{suffix}", bgr))
    np.testing.assert_array_equal(image[0, :5, 0], [255] * 5)  # R was the third (BGR) channel
    np.testing.assert_array_equal(image[0, :5, 2], [0, 1, 128, 156, 255])


def test_16_bit_with_alpha(tmp_path):
    bgra = np.zeros((20, 20, 4), np.uint16)
    bgra[:, :, 2] = 65535  # red
    bgra[:, :10, 3] = 65535
    image = load_image(_write_png(tmp_path / "rgba16.png", bgra))
    np.testing.assert_array_equal(image[:, :10], np.broadcast_to((255, 0, 0), (20, 10, 3)))
    np.testing.assert_array_equal(image[:, 10:], 255)


def test_palette_png(tmp_path):
    picture = Image.fromarray(_quadrants()).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    picture.save(tmp_path / "palette.png")
    assert Image.open(tmp_path / "palette.png").mode == "P"
    np.testing.assert_array_equal(load_image(tmp_path / "palette.png"), np.asarray(picture.convert("RGB")))


# What a camera stores for each EXIF orientation, made from the upright picture: the inverse of
# the turn a viewer applies (Pillow's transposes; 6 and 8 are each other's inverse).
_STORED = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def _write_oriented(path: Path, orientation: int) -> Path:
    upright = Image.fromarray(_quadrants())
    stored = upright if _STORED[orientation] is None else upright.transpose(_STORED[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    options = {"quality": 95} if path.suffix == ".jpg" else {}
    stored.save(path, exif=exif, **options)
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_of_jpeg_is_applied(tmp_path, orientation):
    path = _write_oriented(tmp_path / f"photo{orientation}.jpg", orientation)
    image = load_image(path)
    _assert_quadrants(image)
    # OpenCV's own reading with IMREAD_COLOR turns the same decoded pixels the same way
    expected = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(image, expected)


@pytest.mark.parametrize("suffix", [".png", ".webp", ".tif"])
def test_exif_orientation_of_other_formats(tmp_path, suffix):
    _assert_quadrants(load_image(_write_oriented(tmp_path / f"photo{suffix}", 6)))


def test_too_small_image(tmp_path):
    path = _write_png(tmp_path / "tiny.png", np.zeros((MIN_IMAGE_SIDE - 1, 200, 3), np.uint8))
    with pytest.raises(SampleError, match=r"tiny\.png: image is 200x15 pixels, too small to find a hand in"):
        load_image(path)
    assert load_image(_write_png(tmp_path / "ok.png", np.zeros((MIN_IMAGE_SIDE, 200, 3), np.uint8))).shape[0] == MIN_IMAGE_SIDE


def test_missing_corrupt_and_folder_raise_sample_error(tmp_path):
    with pytest.raises(SampleError, match=r"nothere\.jpg: image file is missing"):
        load_image(tmp_path / "nothere.jpg")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 10)
    with pytest.raises(SampleError, match=r"corrupt\.jpg: not a readable image"):
        load_image(corrupt)
    good = _write_png(tmp_path / "good.png", _quadrants())
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(SampleError, match="truncated.png: not a readable image"):
        load_image(truncated)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(SampleError, match="empty.png: not a readable image"):
        load_image(tmp_path / "empty.png")
    with pytest.raises(SampleError, match="is a folder, not an image"):
        load_image(tmp_path)


# ---- open_source -------------------------------------------------------------------------


def _photo_folder(root: Path) -> Path:
    """a.jpg, b.png, bad.jpg (corrupt), notes.txt, sub/c.png, sub/deeper/d.JPG, and hidden files."""
    folder = root / "photos"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / ".cache").mkdir()
    picture = _quadrants()[:, :, ::-1]
    cv2.imwrite(str(folder / "a.jpg"), picture)
    cv2.imwrite(str(folder / "b.png"), picture)
    cv2.imwrite(str(folder / "sub" / "c.png"), picture)
    cv2.imwrite(str(folder / "sub" / "deeper" / "d.JPG"), picture)
    cv2.imwrite(str(folder / ".cache" / "e.png"), picture)
    (folder / "bad.jpg").write_bytes(b"this is no image")
    (folder / "notes.txt").write_text("not an image\n")
    (folder / "._a.jpg").write_bytes(b"macOS resource fork")
    return folder


def test_folder_yields_images_sorted_with_failures_and_skips(tmp_path):
    folder = _photo_folder(tmp_path)
    source = open_source(folder)
    assert source.kind == "folder" and source.total == 5 and source.fps is None
    assert source.skipped == [folder / "notes.txt"]
    items = list(source)
    assert [item.name for item in items] == ["a.jpg", "b.png", "bad.jpg", "sub/c.png", "sub/deeper/d.JPG"]
    failures = [item for item in items if isinstance(item, FrameFailure)]
    assert len(failures) == 1
    assert failures[0].path == folder / "bad.jpg"
    assert "bad.jpg: not a readable image" in failures[0].reason and "\n" not in failures[0].reason
    for frame in items:
        if isinstance(frame, Frame):
            assert frame.frame_index is None and frame.path == folder / frame.name
            _assert_quadrants(frame.image)
    assert [item.name for item in source] == [item.name for item in items]  # iterable again


def test_glob_patterns_name_images_relative_to_their_fixed_folder(tmp_path, monkeypatch):
    folder = _photo_folder(tmp_path)
    source = open_source(f"{folder}/*.png")
    assert source.kind == "glob" and source.total == 1
    assert [frame.name for frame in source] == ["b.png"]
    source = open_source(f"{folder}/**/*.png")
    assert [frame.name for frame in source] == ["b.png", "sub/c.png"]  # hidden .cache left out
    monkeypatch.chdir(tmp_path)
    source = open_source("photos/*")
    assert source.total == 3 and source.skipped == [Path("photos/notes.txt")]  # folders not matched
    assert [item.name for item in source] == ["a.jpg", "b.png", "bad.jpg"]
    assert [item.name for item in open_source("*/sub/*.png")] == ["photos/sub/c.png"]


def test_single_image(tmp_path):
    path = _write_png(tmp_path / "hand.png", _quadrants()[:, :, ::-1])
    source = open_source(str(path))
    assert source.kind == "image" and source.total == 1 and source.skipped == []
    (frame,) = list(source)
    assert frame.name == "hand.png" and frame.path == path and frame.frame_index is None
    _assert_quadrants(frame.image)


def _write_video(path: Path, count: int, size: tuple[int, int] = (64, 48), fps: float = 10.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    for i in range(count):
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        frame[:, :, 2] = 200  # red in OpenCV's BGR
        frame[:, : 4 * (i + 1), 1] = 200  # a green bar growing with the frame index
        writer.write(frame)
    writer.release()
    return path


def test_video_frames_with_index_count_and_rate(tmp_path):
    path = _write_video(tmp_path / "clip.mp4", 12)
    source = open_source(path)
    assert source.kind == "video" and source.total == 12 and source.fps == pytest.approx(10.0)
    frames = list(source)
    assert [frame.frame_index for frame in frames] == list(range(12))
    for frame in frames:
        assert frame.name == "clip.mp4" and frame.path == path
        assert frame.image.shape == (48, 64, 3) and frame.image.dtype == np.uint8
        assert frame.image[:, :, 0].mean() > 150 and frame.image[:, :, 2].mean() < 50  # RGB, not BGR
    assert frames[0].image[:, 40:, 1].mean() < 60 and frames[11].image[:, :40, 1].mean() > 150
    first = next(iter(source))  # stopping early and starting again reads from the start
    assert first.frame_index == 0


def test_video_captures_are_released(tmp_path, monkeypatch):
    opened, released = [], []

    real_capture = cv2.VideoCapture

    class TrackedCapture:
        def __init__(self, *args):
            self.capture = real_capture(*args)
            opened.append(self)

        def release(self):
            released.append(self)
            self.capture.release()

        def __getattr__(self, name):
            return getattr(self.capture, name)

    monkeypatch.setattr(cv2, "VideoCapture", TrackedCapture)
    source = open_source(_write_video(tmp_path / "clip.avi", 5))
    assert len(opened) == len(released) == 1  # checked at open, not held
    assert len(list(source)) == 5 and len(released) == 2
    frames = iter(source)
    next(frames)
    frames.close()  # what a for loop left by break does when its iterator goes
    assert len(opened) == len(released) == 3


@pytest.mark.parametrize(
    "make_source, message",
    [
        (lambda root: root / "missing.jpg", r"missing\.jpg: no such file or folder"),
        (lambda root: f"{root}/nothing/*.jpg", r"no images found: the pattern matches nothing"),
        (lambda root: _text_folder(root), r"no images found: the folder has only 1 other file\(s\), e\.g\. notes\.txt"),
        (lambda root: _file(root / "broken.png", b"garbage"), r"broken\.png: not a readable image"),
        (lambda root: _file(root / "broken.mp4", b"garbage" * 100), r"broken\.mp4: cannot open the video"),
        (lambda root: None, "no source given"),
    ],
)
def test_unusable_sources_raise_one_clear_line(tmp_path, make_source, message):
    with pytest.raises(SourceError, match=message) as error:
        open_source(make_source(tmp_path))
    assert "\n" not in str(error.value)


def test_webcam_and_source_together_or_missing_camera(tmp_path):
    with pytest.raises(SourceError, match="not both"):
        open_source(tmp_path, webcam=0)
    with pytest.raises(SourceError, match="webcam:97: cannot open the camera"):
        open_source(None, webcam=97)


def _text_folder(root: Path) -> Path:
    (root / "docs").mkdir()
    (root / "docs" / "notes.txt").write_text("no pictures here\n")
    return root / "docs"


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
