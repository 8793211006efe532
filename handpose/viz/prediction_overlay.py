"""What ``handpose predict`` shows: each hand's box, skeleton and label over the picture, as an
image or a video.

Sizes follow the picture and the hand, so an overlay reads on a 256-pixel crop and on a
4000-pixel photo alike: bones grow with the image (about 1 pixel per 300) but stay thin beside a
small hand (about 1/25 of its box), and are at least 2 pixels wide so that the thin bones of
guessed joints stand apart. A joint scored below :data:`LOW_SCORE` is drawn the way
:mod:`handpose.viz.skeleton_overlay` draws an occluded label, a hollow ring with thin bones: it is
a guess, and should look like one. The label, e.g. "#3 left 0.93" (track id where tracked, the
side as the hand appears, or "hand" where undecided, and the pose score
:attr:`HandPrediction.score`, which every finder fills, unlike ``hand_score``), sits above the
box, or inside it at the top edge of the picture, and is kept inside the picture. Hands with 3D
get a small turned view of their 3D skeleton in the top-right corner
(:mod:`handpose.viz.skeleton_3d_view`), where depth shows.

Files are written atomically: a viewer or the next pipeline step never sees half an image or a
video without its index.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from handpose.image_io import _UMASK, write_rgb_atomic
from handpose.structures import OCCLUDED, VISIBLE, HandPrediction
from handpose.viz.skeleton_3d_view import draw_3d_views
from handpose.viz.skeleton_overlay import draw_skeleton

#: Joints scored below this are drawn as guesses (hollow rings, thin bones).
LOW_SCORE = 0.2

#: Box and label colours (RGB) by the side the hand appears as; white where undecided.
SIDE_COLORS: dict[str | None, tuple[int, int, int]] = {
    "left": (0, 200, 255),
    "right": (255, 190, 0),
    None: (235, 235, 235),
}

_TEXT_COLOR = (20, 20, 20)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_MIN_FONT_SCALE = 0.25


def draw_predictions(image: np.ndarray, predictions: Sequence[HandPrediction]) -> np.ndarray:
    """An RGB copy of ``image`` with every prediction's box, skeleton and label drawn on it."""
    canvas = np.asarray(image)
    if canvas.ndim != 3 or canvas.shape[2] != 3:
        raise ValueError(f"image has shape {canvas.shape}, expected an RGB (H, W, 3) image")
    canvas = np.ascontiguousarray(canvas, dtype=np.uint8).copy()
    image_side = min(canvas.shape[:2])
    labels = []
    for prediction in predictions:
        box = np.asarray(prediction.box, dtype=np.float64)
        box_side = float(np.max(box[2:] - box[:2])) if np.all(np.isfinite(box)) else float(image_side)
        width = max(2, round(min(image_side / 300, box_side / 25)))  # 2: thin enough to tell guesses by
        color = SIDE_COLORS.get(prediction.hand_side, SIDE_COLORS[None])
        if np.all(np.isfinite(box)):
            corners = np.round(box).astype(int)
            cv2.rectangle(canvas, tuple(corners[:2]), tuple(corners[2:]), color, max(1, width // 2), cv2.LINE_AA)
        scores = np.asarray(prediction.keypoint_scores, dtype=np.float64)
        visibility = np.where(scores < LOW_SCORE, OCCLUDED, VISIBLE)
        canvas = draw_skeleton(canvas, prediction.keypoints, visibility, radius=round(1.5 * width), thickness=width)
        labels.append((_label_text(prediction), box, color, width))
    for text, box, color, width in labels:  # after every skeleton, so no hand hides a label
        _draw_label(canvas, text, box, color, width)
    with_3d = [p for p in predictions if p.keypoints_3d is not None]
    colors = [SIDE_COLORS.get(p.hand_side, SIDE_COLORS[None]) for p in with_3d]
    return draw_3d_views(canvas, [p.keypoints_3d for p in with_3d], colors) if with_3d else canvas


def write_overlay_image(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an overlay as an image file (type by extension; JPEG at quality 95) atomically;
    returns the path."""
    write_rgb_atomic(path, rgb)
    return Path(path)


class OverlayVideoWriter:
    """Overlay frames into a video file, atomically: ``with OverlayVideoWriter(path, fps, (w, h))
    as video: video.write(rgb)``.

    Frames go to a hidden temporary file beside ``path`` (named like
    :func:`handpose.image_io.open_atomic`'s, but keeping the extension, by which OpenCV picks the
    container), renamed over ``path`` when the block ends normally and deleted when it raises.
    The codec is MPEG-4 part 2 (fourcc mp4v), which every OpenCV build with FFmpeg writes; it
    needs even sizes, so an odd width or height loses its last column or row. A block that
    writes no frame raises ValueError and leaves no file: such a file would not play.
    """

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]) -> None:
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"{path}: frame rate must be a positive number, got {fps}")
        width, height = (int(v) for v in size)
        if width < 2 or height < 2:
            raise ValueError(f"{path}: frame size must be at least 2x2, got {width}x{height}")
        self.path = Path(path)
        self.fps = float(fps)
        self.size = (width, height)
        self.frames = 0
        self._encoded_size = (width - width % 2, height - height % 2)
        self._writer: cv2.VideoWriter | None = None
        self._temporary: Path | None = None

    def __enter__(self) -> "OverlayVideoWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        prefix, suffix = f".{self.path.name}.", f".tmp{self.path.suffix}"
        fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=prefix, suffix=suffix)
        os.close(fd)
        self._temporary = Path(name)
        self._writer = cv2.VideoWriter(name, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self._encoded_size)
        if not self._writer.isOpened():
            self._discard()
            kind = self.path.suffix or "no extension"
            raise OSError(f"{self.path}: OpenCV cannot write an mp4v video into a file of this type ({kind})")
        return self

    def write(self, rgb_frame: np.ndarray) -> None:
        """Append one RGB uint8 frame of the writer's size (OpenCV would drop a frame of another
        size without a word, so that raises ValueError)."""
        if self._writer is None:
            raise RuntimeError(f"{self.path}: write frames inside a 'with OverlayVideoWriter(...)' block")
        frame = np.asarray(rgb_frame)
        width, height = self.size
        if frame.shape != (height, width, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"{self.path}: frame has shape {frame.shape} and type {frame.dtype}, "
                f"expected ({height}, {width}, 3) uint8"
            )
        encoded_width, encoded_height = self._encoded_size
        self._writer.write(np.ascontiguousarray(frame[:encoded_height, :encoded_width, ::-1]))
        self.frames += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._writer is not None and self._temporary is not None
        self._writer.release()
        if exc_type is not None:
            self._discard()
            return
        if self.frames == 0:
            self._discard()
            raise ValueError(f"{self.path}: no frames were written, so no video was made")
        if not self._temporary.is_file() or self._temporary.stat().st_size == 0:
            self._discard()
            raise OSError(f"{self.path}: OpenCV wrote no data (disk full or not writable?)")
        os.chmod(self._temporary, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(self._temporary, self.path)
        self._writer = self._temporary = None

    def _discard(self) -> None:
        if self._temporary is not None:
            self._temporary.unlink(missing_ok=True)
        self._writer = self._temporary = None


def _label_text(prediction: HandPrediction) -> str:
    track = f"#{prediction.track_id} " if prediction.track_id is not None else ""
    return f"{track}{prediction.hand_side or 'hand'} {prediction.score:.2f}"


def _draw_label(canvas: np.ndarray, text: str, box: np.ndarray, color: tuple[int, int, int], width: int) -> None:
    """The label on a filled band above the box (inside it where the box touches the top), moved
    and if need be shrunk to lie wholly inside the picture."""
    height, image_width = canvas.shape[:2]
    scale = max(0.4, 0.25 * width)
    thickness = max(1, width // 2)
    pad = max(1, width)
    while True:
        (text_width, text_height), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
        band_width, band_height = text_width + 2 * pad, text_height + baseline + 2 * pad
        if (band_width <= image_width and band_height <= height) or scale <= _MIN_FONT_SCALE:
            break
        scale, thickness = max(_MIN_FONT_SCALE, scale * 0.8), max(1, thickness - 1)
    x0, y0 = (float(box[0]), float(box[1])) if np.all(np.isfinite(box)) else (0.0, 0.0)
    top = y0 - band_height if y0 - band_height >= 0 else max(y0, 0.0)
    left = int(round(min(max(x0, 0.0), max(image_width - band_width, 0))))
    top = int(round(min(max(top, 0.0), max(height - band_height, 0))))
    cv2.rectangle(canvas, (left, top), (left + band_width - 1, top + band_height - 1), color, -1)
    origin = (left + pad, top + pad + text_height)
    cv2.putText(canvas, text, origin, _FONT, scale, _TEXT_COLOR, thickness, cv2.LINE_AA)
