"""Real photographs as backgrounds: a pool found at run time, decoded once per process.

Painted rooms teach a network colours and edges that webcam backgrounds do not have; real photos
close part of that gap. No image ships with handpose. The pool is gathered when first used from

- scikit-image's bundled sample photos (:data:`SCIKIT_IMAGE_PHOTOS`: public domain or CC0 by
  their docstrings, except ``motorcycle_left.png`` from the Middlebury 2014 stereo benchmark,
  which states no licence; read from the installed package, never copied),
- desktop wallpapers that Debian packages install (:data:`SYSTEM_PHOTO_DIRS`: e.g.
  ``mate-backgrounds`` and ``ukui-wallpapers`` into /usr/share/backgrounds, Plasma's into
  /usr/share/wallpapers), when present, and
- folders the user names.

Which photos a pool holds depends on the machine (installed wallpapers) and the folders, so
:meth:`PhotoPool.fingerprint` names its content for cache keys. Photos are decoded lazily, once
per process, and kept downscaled to :data:`MAX_SIDE`: generator and loader workers each hold the
photos they have drawn (about 3 MB each at most).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
#: scikit-image's bundled photos that look like scenes or surfaces (grey ones are used as grey).
#: Left out: space, microscopy and retina images, near-duplicates (motorcycle_right), drawings,
#: and page.png, whose colour profile makes libpng print a warning in every process reading it.
SCIKIT_IMAGE_PHOTOS = (
    "astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png", "grass.png",
    "gravel.png", "motorcycle_left.png", "rocket.jpg", "text.png",
)
SYSTEM_PHOTO_DIRS = (Path("/usr/share/backgrounds"), Path("/usr/share/wallpapers"))
#: Photos are kept with their longer side at most this many pixels: enough for crops at 256 px.
MAX_SIDE = 1024
#: A crop's side is this fraction of the photo's shorter side or more (zooming in up to ~3x).
MIN_CROP_FRACTION = 0.3

# Wallpaper packages ship one picture in several resolutions ("Elephants_3840x2160.jpg",
# Plasma's "contents/images/1920x1080.png") plus a thumbnail ("screenshot.png").
_RESOLUTION = re.compile(r"_?\d+x\d+$")
_THUMBNAIL_STEMS = ("screenshot",)


def find_photos(folder: Path) -> list[Path]:
    """The photographs in ``folder`` (recursively), sorted, one file per picture.

    Of files that differ only by a resolution suffix the largest is kept, and wallpaper
    thumbnails are skipped, so that no picture counts several times in the draw.
    """
    chosen: dict[tuple[Path, str], Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in PHOTO_SUFFIXES or path.stem.lower() in _THUMBNAIL_STEMS or not path.is_file():
            continue
        key = (path.parent, _RESOLUTION.sub("", path.stem))
        if key not in chosen or path.stat().st_size > chosen[key].stat().st_size:
            chosen[key] = path
    return sorted(chosen.values())


def _scikit_image_photos() -> list[Path]:
    from importlib.resources import files

    root = Path(str(files("skimage.data")))
    return [root / name for name in SCIKIT_IMAGE_PHOTOS if (root / name).is_file()]


class PhotoPool:
    """A fixed, ordered list of photographs, drawn from by index and cropped at random.

    The order is fixed (built-in photos, then each folder's sorted files), so a generator seeded
    the same way draws the same photos in every process.
    """

    def __init__(self, paths: Sequence[Path], names: Sequence[str]) -> None:
        if not paths:
            raise FileNotFoundError("no background photographs found (is scikit-image installed?)")
        self.paths = list(paths)
        self.names = list(names)  # root-independent names, for the fingerprint
        self._images: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def fingerprint(self) -> str:
        """A short hash of the pool's names and file sizes: differs when the pool's photos differ."""
        digest = hashlib.sha1()
        for name, path in zip(self.names, self.paths):
            digest.update(f"{name}\0{path.stat().st_size}\n".encode())
        return digest.hexdigest()[:10]

    def image(self, index: int) -> np.ndarray:
        """Photo ``index`` as RGB uint8, longer side at most :data:`MAX_SIDE`, decoded on first use."""
        if index not in self._images:
            path = self.paths[index]
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # grey photos come back with three channels
            if image is None:
                raise ValueError(f"{path}: not a readable image; remove it from the background folder")
            scale = MAX_SIDE / max(image.shape[:2])
            if scale < 1.0:
                image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            self._images[index] = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        return self._images[index]

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """A background (size, size, 3) RGB uint8: a random photo, cropped, mirrored, tinted, defocused.

        The crop is a square of random side and position; exposure and white balance change a
        little (the camera effects that follow change them more); the defocus follows the same
        law as the painted backgrounds', so sharpness does not tell the two kinds apart.
        """
        photo = self.image(int(rng.integers(len(self))))
        h, w = photo.shape[:2]
        side = max(1, int(round(min(h, w) * rng.uniform(MIN_CROP_FRACTION, 1.0))))
        y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        mirror = rng.random() < 0.5
        gains = rng.uniform(0.75, 1.2) * rng.normal(1.0, 0.05, size=3)
        focus = rng.uniform(0.0, 1.25) * size / 128.0

        interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        crop = cv2.resize(photo[y0:y0 + side, x0:x0 + side], (size, size), interpolation=interpolation)
        if mirror:
            crop = crop[:, ::-1]
        table = np.clip(np.arange(256.0)[:, None] * gains[None, :] + 0.5, 0, 255).astype(np.uint8)
        crop = cv2.LUT(np.ascontiguousarray(crop), table.reshape(256, 1, 3))
        if focus > 0.6:
            crop = cv2.GaussianBlur(crop, (0, 0), sigmaX=float(focus))
        return crop


@functools.lru_cache(maxsize=8)
def photo_pool(folders: tuple[Path, ...] = ()) -> PhotoPool:
    """The pool of built-in photos (scikit-image's, installed wallpapers) plus ``folders``.

    Cached per process, so each generator or loader worker lists and decodes photos once.
    A named folder that is missing or holds no photograph is an error naming it.
    """
    paths, names = [], []
    for path in _scikit_image_photos():
        paths.append(path)
        names.append(f"scikit-image/{path.name}")
    for root in SYSTEM_PHOTO_DIRS:
        found = find_photos(root) if root.is_dir() else []
        paths += found
        names += [f"system/{root.name}/{path.relative_to(root).as_posix()}" for path in found]
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"background folder {folder} does not exist or is not a folder")
        found = find_photos(folder)
        if not found:
            raise FileNotFoundError(f"background folder {folder} holds no photographs ({', '.join(PHOTO_SUFFIXES)})")
        paths += found
        names += [f"folder/{path.relative_to(folder).as_posix()}" for path in found]
    return PhotoPool(paths, names)
