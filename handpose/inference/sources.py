"""Where ``handpose predict`` gets its pictures: one image, a folder, a glob, a video or a webcam.

Every source yields :class:`Frame` objects, RGB uint8 and upright, named the way a user will
recognise them in the results; an image that cannot be read inside a folder or glob is a
:class:`FrameFailure` with the reason, and the run goes on. A source that cannot be used at all
(missing, matching nothing, unopenable) raises :class:`SourceError` at :func:`open_source`, before
any model work starts.

:func:`load_image` accepts any image a user may have, not only the 8-bit RGB that datasets hold:
grayscale, palette, 16-bit, transparent, and phone photos stored sideways with an EXIF
orientation tag.
"""

from __future__ import annotations

import glob
import io
import os
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from handpose.structures import SampleError

#: Images whose shorter side is below this many pixels are refused: no hand can be found in them.
MIN_IMAGE_SIDE = 16

#: Extensions (lower case) taken as images in a folder or glob. HEIC and AVIF are listed although
#: some OpenCV builds cannot decode them: a phone photo then shows up as a failure with its reason
#: instead of being skipped without a word.
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".gif",
     ".pbm", ".pgm", ".ppm", ".pnm", ".jp2", ".avif", ".heic", ".heif"}
)  # fmt: skip

#: Extensions (lower case) of a SOURCE file read as a video with cv2.VideoCapture.
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp",
     ".mts", ".m2ts", ".ogv"}
)  # fmt: skip

SourceKind = Literal["image", "folder", "glob", "video", "webcam"]

_GLOB_CHARACTERS = re.compile(r"[*?[]")
_EXIF_ORIENTATION_TAG = 0x0112

#: EXIF orientation -> the view of the stored pixels that shows the picture upright
#: (2 mirrored, 3 upside down, 4 mirrored upside down, 5 transposed, 6 turned 90 degrees
#: anticlockwise, so it is turned clockwise back, 7 transversed, 8 turned clockwise).
_UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: a.swapaxes(0, 1)[:, ::-1],
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: a.swapaxes(0, 1)[::-1],
}


class SourceError(ValueError):
    """A SOURCE that cannot be used at all; the message (one line) names it and says why."""


@dataclass
class Frame:
    """One picture to predict on.

    ``name`` identifies it in outputs: an image's file name, a folder's or glob's image by its path
    relative to the folder or to the glob's fixed leading folders (forward slashes), a video's
    frame by the video's file name (with ``frame_index``), a webcam's by "webcam:N".
    """

    image: np.ndarray  # RGB uint8 (H, W, 3), upright
    name: str
    frame_index: int | None = None  # video and webcam frames only
    path: Path | None = None  # the image or video file; None for a webcam


@dataclass
class FrameFailure:
    """A picture of a folder or glob that could not be read; ``reason`` is one line."""

    name: str
    path: Path | None
    reason: str


@dataclass
class FrameSource:
    """The frames of one SOURCE, made by :func:`open_source`; iterate it for :class:`Frame` and
    :class:`FrameFailure` objects, as often as needed: each pass reads the files or the video
    afresh (a single image is read once, by open_source, to check it).

    ``total`` is how many frames to expect: the images found, a video's frame count as its
    container states it (may be off by a few, or None when unknown), None for a webcam.
    ``fps`` is a video's or webcam's frame rate where it states one. ``skipped`` are the files of
    a folder or glob that are not images by their extension.
    """

    kind: SourceKind
    total: int | None
    _frames: Callable[[], Iterator[Frame | FrameFailure]] = field(repr=False)
    fps: float | None = None
    skipped: list[Path] = field(default_factory=list)

    @property
    def is_stream(self) -> bool:
        """A video or a webcam: frames in time order, to be tracked rather than read one by one."""
        return self.kind in ("video", "webcam")

    def __iter__(self) -> Iterator[Frame | FrameFailure]:
        return self._frames()


def load_image(path: str | Path) -> np.ndarray:
    """Read any image file as RGB uint8 (H, W, 3), upright, so a model sees what a viewer shows.

    Grayscale is repeated to three channels; palette images are expanded; 16-bit images are scaled
    to 8 bit (65535 -> 255, rounded), not truncated, and floating-point ones taken as 0..1;
    transparent pixels are composited onto white, the page colour cut-out pictures are made for
    (black would hide dark skin and sleeves). The EXIF orientation of JPEG, PNG and WebP files is
    applied (OpenCV's TIFF reader already applies the TIFF one). Large images are returned
    whole. A missing, unreadable or corrupt file, or one smaller than :data:`MIN_IMAGE_SIDE`,
    raises :class:`SampleError` with one line naming the file.
    """
    path = Path(path)
    if path.is_dir():
        raise SampleError(f"{path}: is a folder, not an image")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SampleError(f"{path}: image file is missing") from None
    except OSError as error:
        raise SampleError(f"{path}: cannot read the file: {error.strerror or error}") from error
    try:
        # IMREAD_UNCHANGED keeps the alpha channel and the 16 bits, which every other flag drops.
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    except cv2.error:
        pixels = None
    if pixels is None:
        raise SampleError(f"{path}: not a readable image (empty, corrupt, truncated or a format OpenCV cannot decode)")
    rgb = _to_rgb8(pixels, path)
    orientation = _exif_orientation(data)
    if orientation in _UPRIGHT:  # IMREAD_UNCHANGED also leaves the orientation to the caller
        rgb = np.ascontiguousarray(_UPRIGHT[orientation](rgb))
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_IMAGE_SIDE:
        raise SampleError(
            f"{path}: image is {width}x{height} pixels, too small to find a hand in "
            f"(the shorter side must be at least {MIN_IMAGE_SIDE})"
        )
    return rgb


def open_source(source: str | Path | None, webcam: int | None = None) -> FrameSource:
    """The frames of SOURCE: an image file, a folder (images in it and in its subfolders, sorted
    by relative path; hidden files and folders ignored), a glob pattern (``photos/*.jpg``, ``**``
    for any depth), a video file (by extension, :data:`VIDEO_EXTENSIONS`), or webcam ``N``
    (``source`` None). Raises :class:`SourceError` for a source that cannot be used at all: a
    missing path, a folder or pattern without images, an image that cannot be read, a video or
    webcam that cannot be opened. A video or webcam is only opened here to check it and read its
    frame count and rate: each iteration opens it again (SourceError should that fail) and
    releases it when done, also when the loop stops early."""
    if webcam is not None:
        if source is not None:
            raise SourceError(f"give either a SOURCE ({source}) or a webcam ({webcam}), not both")
        return _capture_source("webcam", int(webcam), f"webcam:{int(webcam)}", None)
    if source is None or str(source) == "":
        raise SourceError("no source given: name an image, a folder, a glob pattern, a video or a webcam")
    path = Path(source).expanduser()
    if path.is_dir():
        return _image_list_source("folder", path, *_folder_files(path), str(source))
    if path.is_file():
        if path.suffix.lower() in VIDEO_EXTENSIONS:
            return _capture_source("video", str(path), path.name, path)
        try:
            image = load_image(path)
        except SampleError as error:
            raise SourceError(str(error)) from error
        frame = Frame(image=image, name=path.name, path=path)
        return FrameSource(kind="image", total=1, _frames=lambda: iter((frame,)))
    if _GLOB_CHARACTERS.search(str(source)):
        base, files = _glob_files(str(path))
        images = [f for f in files if f.suffix.lower() in IMAGE_EXTENSIONS]
        others = [f for f in files if f.suffix.lower() not in IMAGE_EXTENSIONS]
        return _image_list_source("glob", base, images, others, str(source))
    raise SourceError(f"{source}: no such file or folder")


def _to_rgb8(pixels: np.ndarray, path: Path) -> np.ndarray:
    """OpenCV's BGR(A) or gray(+alpha) pixels of any depth as RGB uint8, alpha composited on white."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    channels = pixels.shape[2]
    if channels not in (1, 2, 3, 4):
        raise SampleError(f"{path}: image has {channels} channels; only gray, colour and their alpha are read")
    if pixels.dtype == np.uint8:
        full = 255.0
    elif pixels.dtype == np.uint16:
        full = 65535.0
    elif pixels.dtype in (np.float32, np.float64):
        full = 1.0
    else:
        raise SampleError(f"{path}: pixels of type {pixels.dtype} are not supported (8 or 16 bit, or float)")
    has_alpha = channels in (2, 4)
    colour = pixels[:, :, : channels - 1] if has_alpha else pixels
    rgb = np.repeat(colour, 3, axis=2) if colour.shape[2] == 1 else np.ascontiguousarray(colour[:, :, ::-1])
    if pixels.dtype == np.uint8 and not has_alpha:
        return rgb
    values = rgb.astype(np.float32) / np.float32(full)
    if has_alpha:
        alpha = pixels[:, :, channels - 1 :].astype(np.float32) / np.float32(full)
        values = values * alpha + (1.0 - alpha)  # over white
    return np.clip(values * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)


def _exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1-8) of an encoded JPEG, PNG or WebP image; 1 where it has none.

    Pillow (installed with matplotlib) reads the tag from the headers without decoding the
    pixels. TIFF gives 1: OpenCV's TIFF reader orients the pixels itself even with
    IMREAD_UNCHANGED, so turning them again would be wrong. The tag is best-effort metadata
    about pixels OpenCV has already decoded, so any failure to read it means "no orientation".
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # sizes are checked elsewhere
            with Image.open(io.BytesIO(data)) as picture:
                if picture.format == "TIFF" or (picture.format == "PNG" and "exif" not in picture.info):
                    return 1  # PNG: looking for an eXIf chunk after the pixels would decode them all
                orientation = picture.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:  # Pillow raises many types (OSError, SyntaxError, ValueError, ...) on odd files
        return 1
    return orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1


def _folder_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """The image files and the other files under ``folder``, sorted by relative path; names
    starting with a dot (.DS_Store, macOS's ._IMG_0001.JPG resource forks) are passed over."""
    images, others = [], []
    for root, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in files:
            if not name.startswith("."):
                file = Path(root) / name
                (images if file.suffix.lower() in IMAGE_EXTENSIONS else others).append(file)
    return _sorted_under(folder, images), _sorted_under(folder, others)


def _glob_files(pattern: str) -> tuple[Path, list[Path]]:
    """The folder a pattern's fixed leading parts name (names are relative to it) and the files it
    matches, sorted; ``**`` matches any depth, folders matched are left out."""
    parts = Path(pattern).parts
    fixed = next(i for i, part in enumerate(parts) if _GLOB_CHARACTERS.search(part))
    base = Path(*parts[:fixed]) if fixed else Path(".")
    files = [Path(match) for match in glob.glob(pattern, recursive=True) if os.path.isfile(match)]
    return base, _sorted_under(base, files)


def _sorted_under(base: Path, files: list[Path]) -> list[Path]:
    return sorted(files, key=lambda file: _relative_name(base, file))


def _relative_name(base: Path, file: Path) -> str:
    return file.relative_to(base).as_posix()


def _image_list_source(
    kind: SourceKind, base: Path, images: list[Path], others: list[Path], source: str
) -> FrameSource:
    if not images:
        what = "folder has" if kind == "folder" else "pattern matches"
        found = f"only {len(others)} other file(s), e.g. {others[0].name}" if others else "nothing"
        raise SourceError(f"{source}: no images found: the {what} {found}")

    def read() -> Iterator[Frame | FrameFailure]:
        for file in images:
            name = _relative_name(base, file)
            try:
                yield Frame(image=load_image(file), name=name, path=file)
            except SampleError as error:
                yield FrameFailure(name=name, path=file, reason=str(error))

    return FrameSource(kind=kind, total=len(images), _frames=read, skipped=others)


def _capture_source(kind: SourceKind, device: str | int, name: str, path: Path | None) -> FrameSource:
    """A video file or webcam: opened once here to check it and read its frame count and rate."""
    capture = _open_capture(device, name)
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if kind == "video" else 0
        fps = float(capture.get(cv2.CAP_PROP_FPS))
    finally:
        capture.release()

    def read() -> Iterator[Frame | FrameFailure]:
        capture = _open_capture(device, name)
        try:
            index = 0
            while True:
                ok, bgr = capture.read()
                if not ok:
                    return
                yield Frame(image=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), name=name, frame_index=index, path=path)
                index += 1
        finally:
            capture.release()  # also when the consumer stops early and the generator is closed

    return FrameSource(
        kind=kind,
        total=count if count > 0 else None,
        _frames=read,
        fps=fps if np.isfinite(fps) and fps > 0 else None,
    )


def _open_capture(device: str | int, name: str) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(device)
    if not capture.isOpened():
        capture.release()
        what = "camera" if isinstance(device, int) else "video (corrupt, or a codec this OpenCV build lacks)"
        raise SourceError(f"{name}: cannot open the {what}")
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)  # phone videos: honour the rotation metadata
    return capture
