"""What every reader shares: the bad-input policy, label parsing, and building checked samples.

Readers never drop anything silently. A sample that cannot be used raises :class:`SampleError`
naming the annotation file, the sample and the problem; under ``policy="skip"`` the error is
caught by :meth:`SampleCollector.guard` and recorded in ``ReadResult.skipped`` instead. Hands that
the format itself marks as absent (an invalid COCO-WholeBody hand, an RHD hand out of view) are not
errors: they are counted by reason in ``ReadResult.excluded``.
"""

from __future__ import annotations

import json
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np

from handpose.geometry.camera import project
from handpose.skeleton import JOINT_NAMES, NUM_JOINTS
from handpose.structures import NOT_LABELLED, OCCLUDED, VISIBLE, HandSample, SampleError, keypoint_box

Policy = Literal["error", "skip"]
POLICIES: tuple[str, ...] = ("error", "skip")

#: Labelled keypoints may lie outside the image (a hand cut by the frame), but not by more than this
#: fraction of the image's width or height: beyond it the label is taken to be broken (wrong units,
#: swapped axes, another image's coordinates).
DEFAULT_OUTSIDE_MARGIN = 1.0


@dataclass
class ReadResult:
    """What a reader returns: the usable samples and an account of everything else."""

    samples: list[HandSample]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (sample id, reason) under policy="skip"
    excluded: dict[str, int] = field(default_factory=dict)  # hands the format marks as absent, by reason


class SampleCollector:
    """Gathers a reader's samples, applying the bad-input policy to each one."""

    def __init__(self, source: str, policy: Policy = "error"):
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
        self.source = source
        self.policy = policy
        self._samples: list[HandSample] = []
        self._ids: set[str] = set()
        self._skipped: list[tuple[str, str]] = []
        self._excluded: Counter[str] = Counter()

    @contextmanager
    def guard(self, sample_id: str, annotation_file: Path | str) -> Iterator[None]:
        """Run the reading of one sample; its SampleError is raised with context or, under skip, recorded."""
        try:
            yield
        except SampleError as error:
            reason = f"{self.source} sample {sample_id!r} in {annotation_file}: {error}"
            if self.policy == "error":
                raise SampleError(reason) from error
            self._skipped.append((sample_id, reason))

    def add(self, sample: HandSample) -> None:
        if sample.sample_id in self._ids:
            raise SampleError(f"sample id {sample.sample_id!r} occurs twice")
        self._ids.add(sample.sample_id)
        self._samples.append(sample)

    def exclude(self, reason: str) -> None:
        """Count a hand that the format itself marks as absent (not an error)."""
        self._excluded[reason] += 1

    def result(self) -> ReadResult:
        return ReadResult(list(self._samples), list(self._skipped), dict(self._excluded))


def load_json(path: Path) -> Any:
    """Parse a JSON annotation file; a missing or malformed file raises SampleError naming it."""
    require_file(path, "annotation file")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SampleError(f"{path}: not valid JSON ({error})") from None


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise SampleError(f"{path}: {what} is missing")
    return path


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise SampleError(f"{path}: {what} (a folder) is missing")
    return path


def split_names(path: Path, split: str | None, known: tuple[str, ...]) -> list[str]:
    """The requested split, or every one of the ``known`` split folders present under ``path``."""
    if split is not None:
        if split not in known:
            raise ValueError(f"split must be one of {known}, got {split!r}")
        return [split]
    present = [name for name in known if (path / name).is_dir()]
    if not present:
        raise SampleError(f"{path}: split folder {' or '.join(known)} is missing")
    return present


def existing_file(path: Path) -> Path | None:
    """``path`` if it is a file, else None (for optional companions such as masks)."""
    return path if path.is_file() else None


def numeric_array(value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """``value`` as a float array of exactly ``shape``; anything else raises SampleError."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise SampleError(f"{what} is not an array of numbers") from None
    if array.shape != shape:
        raise SampleError(f"{what} has shape {array.shape}, expected {shape}")
    return array


def keypoint_triplets(value: Any, num_joints: int = NUM_JOINTS, what: str = "keypoints") -> np.ndarray:
    """(J, 3) x, y, flag from a flat ``[x, y, v, ...]`` list or a nested ``[[x, y, v], ...]`` one."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise SampleError(f"{what} is not an array of numbers") from None
    if array.shape == (num_joints * 3,):
        return array.reshape(num_joints, 3)
    if array.shape != (num_joints, 3):
        raise SampleError(f"{what} has shape {array.shape}, expected {num_joints} x 3 values (flat or nested)")
    return array


def coco_flags(flags: np.ndarray, binary: bool = False) -> np.ndarray:
    """COCO visibility flags (0, 1, 2) from a label's flag column.

    COCO meaning: 0 not labelled, 1 labelled but occluded, 2 labelled and visible; values between 0
    and 2 (COCO-WholeBody's fractional scores) count as labelled, not known visible. ``binary``:
    the source writes only 0/1 meaning not labelled/labelled (MMPose's conversions), so 1 becomes 2.
    """
    flags = np.nan_to_num(np.asarray(flags, dtype=np.float64), nan=0.0)
    labelled = flags > 0
    if binary:
        return np.where(labelled, VISIBLE, NOT_LABELLED).astype(np.int8)
    return np.where(flags >= VISIBLE, VISIBLE, np.where(labelled, OCCLUDED, NOT_LABELLED)).astype(np.int8)


def parse_hand_side(value: Any, what: str = "hand_type") -> str:
    """'left' or 'right' from a label; a missing or unknown value raises SampleError."""
    if value is None:
        raise SampleError(f"{what} (left/right) is missing")
    side = str(value).strip().lower()
    if side not in ("left", "right"):
        raise SampleError(f"{what} is {value!r}, expected 'left' or 'right'")
    return side


def xywh_box(bbox: Any) -> np.ndarray | None:
    """A COCO ``[x, y, w, h]`` box as x0, y0, x1, y1, or None when absent or of no area."""
    if bbox is None:
        return None
    try:
        x, y, w, h = (float(v) for v in bbox)
    except (TypeError, ValueError):
        return None
    box = np.array([x, y, x + w, y + h])
    return box if np.all(np.isfinite(box)) and w > 0 and h > 0 else None


def project_labelled(points_3d: np.ndarray, K: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """Pixels of camera-frame points; a labelled point not finite or not in front of the camera raises SampleError."""
    _require_finite(points_3d, labelled, "3D")
    behind = np.flatnonzero(labelled & ~(points_3d[:, 2] > 0))
    if len(behind):
        raise SampleError(f"labelled 3D keypoint(s) not in front of the camera ({', '.join(JOINT_NAMES[j] for j in behind)})")
    with np.errstate(divide="ignore", invalid="ignore"):
        return project(points_3d, K)


def joints_far_outside(
    keypoints_2d: np.ndarray, visibility: np.ndarray, image_size: tuple[int, int], margin: float = DEFAULT_OUTSIDE_MARGIN
) -> list[int]:
    """Labelled joints lying more than ``margin`` times the image's width/height outside it."""
    width, height = image_size
    kp = np.asarray(keypoints_2d, dtype=np.float64)
    labelled = np.asarray(visibility) > NOT_LABELLED
    low, high = -margin * np.array([width, height]), (1 + margin) * np.array([width, height])
    if np.all((kp >= low) & (kp <= high)):  # the usual case, checked cheaply
        return []
    x, y = kp[:, 0], kp[:, 1]
    outside = (x < -margin * width) | (x > (1 + margin) * width) | (y < -margin * height) | (y > (1 + margin) * height)
    return np.flatnonzero(labelled & outside).tolist()


def describe_far_outside(joints: list[int], keypoints_2d: np.ndarray, image_size: tuple[int, int], image: Path) -> str:
    first = joints[0]
    x, y = np.asarray(keypoints_2d)[first]
    return (
        f"{len(joints)} labelled keypoint(s) lie far outside the {image_size[0]}x{image_size[1]} image {image} "
        f"(e.g. {JOINT_NAMES[first]} at ({x:.1f}, {y:.1f}))"
    )


def build_sample(
    *,
    source: str,
    sample_id: str,
    image: Path,
    keypoints_2d: np.ndarray,
    visibility: np.ndarray,
    hand_side: str | None,
    image_size: tuple[int, int] | None = None,
    box: np.ndarray | None = None,
    keypoints_3d: np.ndarray | None = None,
    K: np.ndarray | None = None,
    mask: Path | None = None,
    depth: Path | None = None,
    extras: dict | None = None,
) -> HandSample:
    """A checked HandSample in the canonical order; any problem raises SampleError saying what.

    Checks: the image file exists; at least one joint is labelled; labelled 2D/3D coordinates are
    finite; no labelled joint lies far outside the image (when its size is known); the box has an
    area. ``box`` defaults to (and an unusable one falls back to) the labelled keypoints' box.
    ``image_size`` (width, height) is kept in ``extras["image_size"]``.
    """
    if not image.is_file():
        raise SampleError(f"image file {image} is missing")
    kp = numeric_array(keypoints_2d, (NUM_JOINTS, 2), "keypoints_2d")
    vis = np.asarray(visibility, dtype=np.int8)
    labelled = vis > NOT_LABELLED
    if not labelled.any():
        raise SampleError("no labelled keypoints")
    _require_finite(kp, labelled, "2D")
    if keypoints_3d is not None:
        keypoints_3d = numeric_array(keypoints_3d, (NUM_JOINTS, 3), "keypoints_3d")
        _require_finite(keypoints_3d, labelled, "3D")
    if K is not None:
        K = numeric_array(K, (3, 3), "K")
        if not np.all(np.isfinite(K)):
            raise SampleError("camera intrinsics K contain NaN or infinite values")
    if image_size is not None:
        far = joints_far_outside(kp, vis, image_size)
        if far:
            raise SampleError(describe_far_outside(far, kp, image_size, image))
    if box is None:
        box = keypoint_box(kp, vis)
        if box[2] <= box[0] or box[3] <= box[1]:
            raise SampleError("the labelled keypoints span no area (fewer than two distinct points)")
    extras = dict(extras or {})
    if image_size is not None:
        extras["image_size"] = (int(image_size[0]), int(image_size[1]))
    sample = HandSample(
        image=image,
        keypoints_2d=np.where(labelled[:, None], kp, 0.0),
        visibility=vis,
        hand_side=hand_side,  # type: ignore[arg-type]
        box=np.asarray(box, dtype=np.float64),
        source=source,
        sample_id=sample_id,
        keypoints_3d=None if keypoints_3d is None else np.where(labelled[:, None], keypoints_3d, 0.0),
        K=K,
        mask=mask,
        depth=depth,
        extras=extras,
    )
    return sample.validate()


def _require_finite(points: np.ndarray, labelled: np.ndarray, what: str) -> None:
    if np.isfinite(points).all():  # the usual case, checked cheaply
        return
    broken = np.flatnonzero(labelled & ~np.all(np.isfinite(points), axis=-1))
    if len(broken):
        names = ", ".join(JOINT_NAMES[j] for j in broken)
        raise SampleError(f"labelled {what} keypoints contain NaN or infinite values ({names})")
