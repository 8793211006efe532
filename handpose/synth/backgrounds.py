"""Backgrounds behind the hand: indoor scenes painted procedurally, or real photographs.

Webcam hands are seen against walls, whiteboards, doors and shelves, usually with the person's
own face and body beside the hand; a detector that has never seen a face next to a hand learns
that every skin-coloured blob is a hand. The procedural scenes therefore paint rooms in the muted
colours of real interiors (walls, boards with writing, frames, shelves of books, furniture, some
textured surfaces) and often a person (head with hair and face, neck, shirt), all slightly out of
focus. Painting happens at half resolution in float32 sRGB; the result is RGB uint8.

:class:`Backgrounds` chooses between those and real photographs
(:mod:`handpose.synth.photo_backgrounds`), whose textures and colour statistics no painting has.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import cv2
import numpy as np

from handpose.synth.appearance import Skin, sample_skin
from handpose.synth.photo_backgrounds import PhotoPool, photo_pool

BackgroundKind = Literal["procedural", "photos", "mixed"]
BACKGROUND_KINDS: tuple[str, ...] = get_args(BackgroundKind)
MIXED_PHOTO_FRACTION = 0.5  # "mixed": the share of backgrounds that are photographs
PERSON_FRACTION = 0.55


@dataclass(frozen=True)
class Backgrounds:
    """Where a generator's backgrounds come from.

    ``kind``: "procedural" (painted rooms, the default), "photos" (real photographs only) or
    "mixed" (each background a photograph with probability :data:`MIXED_PHOTO_FRACTION`).
    ``dirs``: folders of photographs added to the built-in pool (photos and mixed only).
    Procedural backgrounds draw exactly the random numbers they always did, so a seed's
    default output never changes. Small and picklable: worker processes receive it and build
    the photo pool themselves, once each.
    """

    kind: BackgroundKind = "procedural"
    dirs: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in BACKGROUND_KINDS:
            raise ValueError(f"backgrounds must be one of {', '.join(BACKGROUND_KINDS)}, got {self.kind!r}")
        if self.dirs and self.kind == "procedural":
            raise ValueError("background_dirs are used only with backgrounds 'photos' or 'mixed', not 'procedural'")
        object.__setattr__(self, "dirs", tuple(Path(folder) for folder in self.dirs))

    def photos(self) -> PhotoPool:
        """The photo pool (built-in photos plus ``dirs``), listed once per process."""
        return photo_pool(self.dirs)


def smooth_noise(rng: np.random.Generator, size: int, cells: int, channels: int = 1) -> np.ndarray:
    """Band-limited noise (size, size[, channels]) with about ``cells`` blobs across, unit-ish amplitude."""
    coarse = rng.standard_normal((cells + 1, cells + 1, channels), dtype=np.float32)
    field = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_LINEAR)
    return field if channels > 1 else field.reshape(size, size)


def _colour(rng: np.random.Generator, vivid: float = 0.15, value: tuple[float, float] = (0.15, 0.95)) -> tuple:
    """An RGB colour in [0, 1]: mostly the greys, beiges and muted tones of interiors, vivid with probability ``vivid``."""
    saturation = rng.uniform(0.3, 0.8) if rng.random() < vivid else rng.uniform(0.0, 1.0) ** 2 * 0.3
    hue = rng.uniform(0.0, 1.0) if rng.random() < 0.5 else rng.uniform(0.03, 0.17)  # warm beiges and woods are common
    return colorsys.hsv_to_rgb(hue, saturation, rng.uniform(*value))


def _wall(rng: np.random.Generator, size: int) -> np.ndarray:
    """A softly lit wall: a pale colour with a gradient and low-frequency unevenness."""
    base = np.array(_colour(rng, vivid=0.05, value=(0.4, 0.95)), np.float32)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    ramp = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    gradient = np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]
    shade = 1.0 + rng.uniform(0.05, 0.3) * gradient + 0.04 * smooth_noise(rng, size, 4)
    return base[None, None, :] * shade[..., None]


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """Fabric, wood or carpet-like noise between two related colours."""
    a = np.array(_colour(rng, vivid=0.25))
    b = np.clip(a * rng.uniform(0.5, 1.5) + rng.normal(0.0, 0.08, size=3), 0.0, 1.0)
    field = sum(smooth_noise(rng, size, cells) / (i + 1) for i, cells in enumerate((3, 9, 27, 81)))
    if rng.random() < 0.4:  # grain or stripes
        xs = np.arange(size, dtype=np.float32)
        field = field + 1.5 * np.sin(xs[None, :] * rng.uniform(0.05, 0.6) + 2.0 * field)
    t = (np.tanh(field * rng.uniform(0.4, 1.2)) + 1.0) / 2.0
    return (a[None, None] + t[..., None] * (b - a)[None, None]).astype(np.float32)


def _box(rng: np.random.Generator, size: int, min_side: float, max_side: float) -> tuple[tuple[int, int], tuple[int, int]]:
    w, h = (int(v) for v in rng.uniform(min_side, max_side, 2) * size)
    x0, y0 = int(rng.integers(-w // 2, size)), int(rng.integers(-h // 2, size))
    return (x0, y0), (x0 + w, y0 + h)


def _shelf(rng: np.random.Generator, image: np.ndarray) -> None:
    """A shelf board with a row of books."""
    size = image.shape[0]
    y = int(rng.integers(size // 8, size))
    x = int(rng.integers(-size // 2, size // 2))
    end = x + int(rng.uniform(0.4, 1.2) * size)
    cv2.rectangle(image, (x, y), (end, y + max(2, size // 40)), _colour(rng, value=(0.2, 0.7)), -1)
    while x < end:
        w, h = int(rng.uniform(0.015, 0.05) * size) + 1, int(rng.uniform(0.1, 0.25) * size)
        cv2.rectangle(image, (x, y - h), (x + w, y), _colour(rng, vivid=0.4), -1)
        x += w + int(rng.integers(0, 2))


def _furniture(rng: np.random.Generator, image: np.ndarray) -> None:
    """Doors, boards, frames, posters, cupboards, screens, lamps, shelves (drawn in place)."""
    size = image.shape[0]
    for _ in range(rng.integers(1, 7)):
        kind = rng.random()
        colour = _colour(rng)
        if kind < 0.4:  # panel: door, board, cupboard, poster, screen; often framed
            p0, p1 = _box(rng, size, 0.15, 0.9)
            cv2.rectangle(image, p0, p1, colour, -1)
            if rng.random() < 0.6:
                cv2.rectangle(image, p0, p1, _colour(rng, value=(0.1, 0.8)), int(rng.integers(1, 4)))
        elif kind < 0.55:  # ledge, tray or skirting line
            y = int(rng.integers(0, size))
            cv2.line(image, (0, y), (size, y + int(rng.integers(-3, 4))), colour, int(rng.integers(2, 8)))
        elif kind < 0.7:
            _shelf(rng, image)
        elif kind < 0.8:  # lamp or round object
            centre = tuple(int(v) for v in rng.integers(0, size, 2))
            axes = tuple(int(v) for v in rng.integers(size // 30, size // 6, 2))
            cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
        else:  # slanted or irregular object
            pts = rng.integers(-size // 4, size + size // 4, size=(int(rng.integers(3, 7)), 2)).astype(np.int32)
            cv2.fillPoly(image, [cv2.convexHull(pts)], colour)


def _scribbles(rng: np.random.Generator, image: np.ndarray) -> None:
    """Marker writing and sketches as on a whiteboard."""
    size = image.shape[0]
    ink = np.array([(0.1, 0.2, 0.6), (0.6, 0.1, 0.1), (0.1, 0.45, 0.2), (0.1, 0.1, 0.1)][rng.integers(4)], np.float32)
    letters = "abcdefghijklmnopqrstuvwxyz0123456789+=()"
    strokes = np.zeros(image.shape[:2], np.uint8)  # putText draws on 8-bit images only
    for _ in range(rng.integers(2, 9)):
        text = "".join(letters[i] for i in rng.integers(0, len(letters), rng.integers(2, 9)))
        org = (int(rng.integers(-size // 8, size)), int(rng.integers(0, size)))
        cv2.putText(strokes, text, org, int(rng.integers(0, 8)), float(rng.uniform(0.3, 1.2)) * size / 256, 255,
                    1, cv2.LINE_AA)
    if rng.random() < 0.5:
        pts = rng.integers(0, size, size=(int(rng.integers(3, 8)), 2)).astype(np.int32)
        cv2.polylines(strokes, [pts], bool(rng.random() < 0.5), 255, 1, cv2.LINE_AA)
    alpha = (strokes.astype(np.float32) / 255.0)[..., None] * np.float32(rng.uniform(0.5, 1.0))
    image *= 1.0 - alpha
    image += alpha * ink


def _person(rng: np.random.Generator, image: np.ndarray, skin: Skin) -> np.ndarray:
    """Paint a person (head with face and hair, neck, shirt) behind the hand; returns their mask."""
    size = image.shape[0]
    layer = image.copy()
    mask = np.zeros((size, size), np.uint8)
    cx = int(rng.uniform(0.05, 0.95) * size)
    cy = int(rng.uniform(0.15, 0.6) * size)
    r = max(int(rng.uniform(0.12, 0.3) * size), 4)
    turn = rng.uniform(-0.35, 0.35)  # head turned: features shift sideways
    face = skin.srgb * rng.uniform(0.8, 1.05)
    shirt = _colour(rng, vivid=0.35, value=(0.08, 0.95))
    hair = tuple(float(v) for v in np.array(_colour(rng, vivid=0.1, value=(0.02, 0.3))) * rng.uniform(0.5, 1.0))

    def paint(draw, colour) -> None:
        draw(layer, colour)
        draw(mask, 1)

    # Shoulders and shirt, neck, long hair behind the head, then the face.
    shoulder_w = int(r * rng.uniform(1.9, 2.6))
    paint(lambda im, c: cv2.ellipse(im, (cx, cy + int(2.6 * r)), (shoulder_w, int(1.3 * r)), 0, 0, 360, c, -1), shirt)
    paint(lambda im, c: cv2.rectangle(im, (cx - shoulder_w, cy + int(2.6 * r)), (cx + shoulder_w, size + r), c, -1), shirt)
    paint(lambda im, c: cv2.rectangle(im, (cx - int(0.42 * r), cy), (cx + int(0.42 * r), cy + int(1.8 * r)), c, -1),
          tuple(float(v) for v in face * 0.82))
    style = rng.random()
    if style < 0.35:  # long hair
        paint(lambda im, c: cv2.ellipse(im, (cx, cy + int(0.4 * r)), (int(1.15 * r), int(1.6 * r)), 0, 0, 360, c, -1), hair)
    paint(lambda im, c: cv2.ellipse(im, (cx, cy), (int(0.8 * r), int(1.05 * r)), 0, 0, 360, c, -1), tuple(float(v) for v in face))
    if style < 0.85:  # hair on top (short or long); otherwise bald or shaved
        top = int(r * rng.uniform(0.3, 0.6))
        paint(lambda im, c: cv2.ellipse(im, (cx, cy - int(0.35 * r)), (int(0.86 * r), int(0.85 * r)), 0, 180, 360, c, -1), hair)
        cv2.ellipse(layer, (cx, cy - int(0.45 * r)), (int(0.8 * r), top), 0, 180, 360, hair, -1)

    # Face: soft features, shifted by the head's turn.
    fx = cx + int(turn * 0.5 * r)
    dark = tuple(float(v) for v in face * 0.45)
    for side in (-1, 1):
        eye = (fx + side * int(0.3 * r), cy - int(0.08 * r))
        cv2.ellipse(layer, eye, (max(int(0.11 * r), 1), max(int(0.05 * r), 1)), 0, 0, 360, dark, -1)
        cv2.line(layer, (eye[0] - int(0.14 * r), eye[1] - int(0.2 * r)), (eye[0] + int(0.14 * r), eye[1] - int(0.22 * r)),
                 hair, max(int(0.05 * r), 1))
        if rng.random() < 0.25:  # glasses
            cv2.ellipse(layer, eye, (int(0.2 * r), int(0.14 * r)), 0, 0, 360, (0.1, 0.1, 0.1), max(int(0.03 * r), 1))
    cv2.line(layer, (fx, cy), (fx + int(0.06 * r), cy + int(0.35 * r)), tuple(float(v) for v in face * 0.75),
             max(int(0.06 * r), 1))
    cv2.line(layer, (fx - int(0.2 * r), cy + int(0.58 * r)), (fx + int(0.2 * r), cy + int(0.58 * r)),
             tuple(float(v) for v in face * np.array([0.8, 0.55, 0.55])), max(int(0.06 * r), 1))

    # Light from one side, soft edges.
    ramp = np.linspace(1.0 - rng.uniform(0.0, 0.4), 1.0, size, dtype=np.float32)
    if rng.random() < 0.5:
        ramp = ramp[::-1]
    layer *= ramp[None, :, None]
    layer = cv2.GaussianBlur(layer, (0, 0), sigmaX=max(0.6, 0.02 * r))
    inside = mask > 0
    image[inside] = layer[inside]
    return inside


def _to_bytes(image: np.ndarray) -> np.ndarray:
    return np.clip(image * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)


def sample_background(
    rng: np.random.Generator, size: int, skin: Skin, backgrounds: Backgrounds = Backgrounds()
) -> tuple[np.ndarray, np.ndarray]:
    """A background image (size, size, 3) uint8 RGB and the mask of the person painted in it.

    Procedural scenes are painted at half resolution and enlarged: backgrounds are out of focus in
    webcam footage anyway, and this makes them four times cheaper. Photographs carry no person
    mask (people in them are not labelled).
    """
    kind = backgrounds.kind
    if kind == "photos" or (kind == "mixed" and rng.random() < MIXED_PHOTO_FRACTION):
        return backgrounds.photos().sample(rng, size), np.zeros((size, size), bool)
    work = max(size // 2, 16)
    image = _texture(rng, work) if rng.random() < 0.2 else _wall(rng, work)
    _furniture(rng, image)
    if rng.random() < 0.3:
        _scribbles(rng, image)
    person = np.zeros((work, work), bool)
    if rng.random() < PERSON_FRACTION:
        person = _person(rng, image, skin if rng.random() < 0.7 else sample_skin(rng))
    focus = rng.uniform(0.0, 1.25) * work / 128.0
    if focus > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), sigmaX=focus)
    image = cv2.resize(_to_bytes(image), (size, size), interpolation=cv2.INTER_LINEAR)
    person = cv2.resize(person.view(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) > 0
    return image, person
