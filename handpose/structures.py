"""The types every part shares, on the package's ground floor: what a hand is in the data
(:class:`HandSample`, with its visibility flags and :class:`SampleError`) and what a model says
about one (:class:`HandPrediction`). Nothing here imports the rest of handpose at module level, so
data, geometry, models and inference all build on it without cycles.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from handpose.skeleton import NUM_JOINTS

HandSide = Literal["left", "right"]

#: COCO visibility flags: not labelled, labelled but occluded, labelled and visible.
NOT_LABELLED, OCCLUDED, VISIBLE = 0, 1, 2


class SampleError(ValueError):
    """A sample that cannot be used; the message names the file, the sample and the problem."""


class DepthLoader(Protocol):
    """A depth file that knows its own packing (e.g. :class:`handpose.data.readers.depth.PackedDepth`)."""

    def load(self) -> np.ndarray: ...


@dataclass
class HandSample:
    """One hand in one image, keypoints in the canonical joint order (:mod:`handpose.skeleton`).

    Pixel coordinates follow :mod:`handpose.geometry.camera` (centre of the top-left pixel at 0, 0).
    ``hand_side`` is None only where the source does not say (e.g. OneHand10K).
    """

    image: Path | np.ndarray  # RGB uint8 (H, W, 3), or the file it is read from
    keypoints_2d: np.ndarray  # (21, 2) float pixels
    visibility: np.ndarray  # (21,) int8 COCO flags: 0 not labelled, 1 occluded, 2 visible
    hand_side: HandSide | None
    box: np.ndarray  # (4,) x0, y0, x1, y1 pixels: the hand's box
    source: str  # dataset name, e.g. "rhd"
    sample_id: str  # unique within the source, e.g. "training/00042/left"
    keypoints_3d: np.ndarray | None = None  # (21, 3) mm, camera frame
    K: np.ndarray | None = None  # (3, 3) intrinsics
    mask: Path | np.ndarray | None = None  # (H, W) uint8 segmentation labels
    depth: Path | np.ndarray | DepthLoader | None = None  # (H, W) float32 depth in mm
    extras: dict = field(default_factory=dict)  # source-specific fields (subject, sequence, ...)

    @property
    def labelled(self) -> np.ndarray:
        """(21,) bool: joints that carry a label (visible or occluded)."""
        return np.asarray(self.visibility) > NOT_LABELLED

    def load_image(self) -> np.ndarray:
        """The RGB image as a uint8 array, reading it from disk if needed.

        A file whose size differs from the one its annotation declares (``extras["image_size"]``)
        raises SampleError: its labels would be scored against the wrong pixels without a word.
        """
        if isinstance(self.image, np.ndarray):
            return self.image
        from handpose.image_io import read_rgb, size_mismatch

        image = read_rgb(self.image, sample_id=self.sample_id)
        mismatch = size_mismatch(self.image, (image.shape[1], image.shape[0]), self.extras.get("image_size"))
        if mismatch is not None:
            raise SampleError(f"{self.source} sample {self.sample_id!r}: {mismatch}")
        return image

    def load_mask(self) -> np.ndarray | None:
        """The (H, W) segmentation labels, reading the file if needed; None where absent."""
        if self.mask is None or isinstance(self.mask, np.ndarray):
            return self.mask
        from handpose.image_io import read_single_channel

        return read_single_channel(self.mask, "mask", self.sample_id)

    def load_depth(self) -> np.ndarray | None:
        """The (H, W) float32 depth in mm; a reader's :class:`DepthLoader` decodes its dataset's packing."""
        if self.depth is None or isinstance(self.depth, np.ndarray):
            return self.depth
        if not isinstance(self.depth, (str, Path)):
            return self.depth.load()
        from handpose.image_io import read_single_channel

        return read_single_channel(self.depth, "depth", self.sample_id).astype(np.float32)

    def with_image(self, image: np.ndarray) -> "HandSample":
        """A copy holding ``image`` in memory."""
        return replace(self, image=image)

    def validate(self) -> "HandSample":
        """Check shapes and values; raise :class:`SampleError` naming the sample otherwise."""
        where = f"{self.source} sample {self.sample_id!r}"
        if isinstance(self.image, Path):
            where += f" (file {self.image})"
        kp = np.asarray(self.keypoints_2d)
        if kp.shape != (NUM_JOINTS, 2):
            raise SampleError(f"{where}: keypoints_2d has shape {kp.shape}, expected ({NUM_JOINTS}, 2)")
        vis = np.asarray(self.visibility)
        if vis.shape != (NUM_JOINTS,):
            raise SampleError(f"{where}: visibility has shape {vis.shape}, expected ({NUM_JOINTS},)")
        if not np.all(np.isfinite(kp[vis > NOT_LABELLED])):
            raise SampleError(f"{where}: labelled keypoints_2d contain NaN or infinite values")
        if self.keypoints_3d is not None:
            kp3 = np.asarray(self.keypoints_3d)
            if kp3.shape != (NUM_JOINTS, 3):
                raise SampleError(f"{where}: keypoints_3d has shape {kp3.shape}, expected ({NUM_JOINTS}, 3)")
            if not np.all(np.isfinite(kp3[vis > NOT_LABELLED])):
                raise SampleError(f"{where}: keypoints_3d contain NaN or infinite values")
        if self.K is not None:
            K = np.asarray(self.K)
            if K.shape != (3, 3) or not np.all(np.isfinite(K)):
                raise SampleError(f"{where}: K must be a finite 3x3 matrix, got shape {K.shape}")
        if self.hand_side not in ("left", "right", None):
            raise SampleError(f"{where}: hand_side is {self.hand_side!r}, expected 'left' or 'right'")
        box = np.asarray(self.box, dtype=float)
        if box.shape != (4,) or not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
            raise SampleError(f"{where}: box {box.tolist()} is not a finite x0, y0, x1, y1 box")
        return self


def keypoint_box(keypoints_2d: np.ndarray, visibility: np.ndarray | None = None, margin: float = 0.0) -> np.ndarray:
    """The x0, y0, x1, y1 box around the labelled keypoints, grown by ``margin`` times its longer side."""
    kp = np.asarray(keypoints_2d, dtype=float)
    if visibility is not None:
        kp = kp[np.asarray(visibility) > NOT_LABELLED]
    if len(kp) == 0:
        raise SampleError("no labelled keypoints to build a box from")
    lo, hi = kp.min(axis=0), kp.max(axis=0)
    pad = margin * float(np.max(hi - lo))
    return np.concatenate([lo - pad, hi + pad])


@dataclass
class HandPrediction:
    """One hand found in one image, in that image's pixels: what every estimator and finder returns.

    ``hand_side`` is the side as the hand appears in the image (a mirrored selfie shows a right hand
    as a left one), None where nothing decided it. ``score`` is the pose confidence (mean of the
    per-joint scores); ``hand_score`` the confidence that this is a hand of that side. 3D, where an
    estimator predicts it: ``keypoints_3d`` root-relative in mm, ``keypoints_3d_camera`` in the
    camera frame in mm where K is known. ``finder`` names where the hand's box came from
    ("boxes", "whole_image", "detector", ...).
    """

    box: np.ndarray  # (4,) x0, y0, x1, y1 pixels
    keypoints: np.ndarray  # (21, 2) pixels
    keypoint_scores: np.ndarray  # (21,)
    hand_side: HandSide | None = None
    hand_score: float = 0.0
    keypoints_3d: np.ndarray | None = None  # (21, 3) mm, root-relative
    keypoints_3d_camera: np.ndarray | None = None  # (21, 3) mm, camera frame
    mask: np.ndarray | None = None  # (H, W) bool, the hand's pixels
    finder: str = ""
    track_id: int | None = None

    @property
    def score(self) -> float:
        return float(np.mean(self.keypoint_scores))

    def to_json(self) -> dict[str, Any]:
        """The record of ``predictions.json`` (README): box as [x, y, w, h], keypoints as
        21 x [x, y, score], 3D as 21 x [x, y, z] mm where predicted."""
        x0, y0, x1, y1 = (float(v) for v in self.box)
        record: dict[str, Any] = {
            "box": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
            "hand_type": self.hand_side,
            "hand_score": round(float(self.hand_score), 4),
            "keypoints": [
                [round(float(x), 2), round(float(y), 2), round(float(c), 4)]
                for (x, y), c in zip(self.keypoints, self.keypoint_scores)
            ],
            "score": round(self.score, 4),
            "finder": self.finder,
        }
        if self.keypoints_3d is not None:
            record["keypoints_3d"] = np.round(np.asarray(self.keypoints_3d, dtype=float), 2).tolist()
        if self.keypoints_3d_camera is not None:
            record["keypoints_3d_camera"] = np.round(np.asarray(self.keypoints_3d_camera, dtype=float), 2).tolist()
        if self.track_id is not None:
            record["track_id"] = int(self.track_id)
        return record
