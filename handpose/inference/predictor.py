"""``handpose.Predictor``: hands and their keypoints in any image, with the bundled weights.

``Predictor()(image)`` returns :class:`~handpose.structures.HandPrediction`\\ s in the image's own
pixels. Where the hands come from (each prediction's ``finder`` says which):

- ``boxes`` given (x0, y0, x1, y1 per hand, e.g. from ``--boxes FILE``): one crop per box;
- otherwise the ``finder`` (:data:`FINDERS`):

  - ``detector``: every hand the hand detector finds (the ``detector`` weights where they are
    bundled, or those ``detector`` names);
  - ``segmentation``: HandSegNet's hands, the largest mask component per side, as Zimmermann &
    Brox crop them (the bundled ``handsegnet`` weights unless ``detector`` names others);

  each found hand's crop is run as it is and mirrored, and its side is the finder's where the
  finder is surer of it than the pose network is of its own choice;
  - ``whole_image``: the whole image as one hand crop (a close-up photo, a webcam frame), refined
    by a second pass on the box of the first pass's keypoints, so the hand ends up framed as in
    training;
  - ``auto`` (the default): the whole image read as a close-up first, and its hand kept where its
    pose score reaches :data:`CLOSE_UP_MIN_SCORE`; below that, the detector's hands (its
    weights bundled or given; without a detector, ``auto`` is ``whole_image``). A webcam frame or
    a close-up photo is the whole image's case, where a detector trained on synthetic scenes crops
    worse. The close-up's pose score tells a close-up from a scene of several or small hands only
    roughly (it reached the threshold in 367 of 413 synthetic scenes of 0-4 hands): for such
    photos choose ``detector``.

The pose networks see right hands only (left ones are mirrored in training). Where no one says
which side a hand is, each crop (both passes of the whole-image finder) is run both as it is and
mirrored; the orientation whose keypoints are more confident wins and gives the side as the hand
appears in the image, and ``hand_score`` is that orientation's share of the two confidences (0.5:
undecided, 1: certain).

Every crop is cut from the full-resolution image, as Hand4Whole asks for small hands, except where
the crop's warp would shrink it more than :data:`MAX_WARP_SHRINK` times: then from a copy of the
image downscaled with area averaging, so that a 4000-pixel photo is not aliased by a 128-pixel
crop. Keypoints always come back in the original image's pixels.

An estimator that predicts 3D gives root-relative ``keypoints_3d`` in mm: the network's 3D shape
re-anchored on its 2D keypoints (its depths relative to the wrist kept, each joint put on its
keypoint's ray; :func:`handpose.geometry.lift_25d.anchor_prediction`), with the image's camera
where known, else a field of view of :data:`~handpose.geometry.lift_25d.ASSUMED_FOV_DEGREES`.
Where the camera is known (``K``, or a field of view or focal length for a photo) each hand is
also placed in the camera frame (``keypoints_3d_camera``): the root depth and position for which the predicted 3D shape,
at the mean hand's size (or ``hand_size_mm``), projects onto the predicted 2D keypoints
(:func:`handpose.geometry.fit_3d.fit_camera_frame`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from handpose.estimators import Estimator
from handpose.geometry.crop import CropBox, box_around
from handpose.geometry.fit_3d import fit_camera_frame, intrinsics_from_focal, intrinsics_from_fov, mean_hand_size
from handpose.geometry.lift_25d import ASSUMED_FOV_DEGREES, anchor_prediction
from handpose.inference.crops import estimate_in_boxes
from handpose.inference.sources import load_image
from handpose.inference.weights import load_estimator, resolve_weights
from handpose.structures import HandPrediction, HandSide, keypoint_box

if TYPE_CHECKING:
    from handpose.inference.onnx_backend import OnnxEstimator

#: The most a crop's warp may shrink the image (bilinear sampling aliases beyond about 2x);
#: larger boxes are cut from an area-averaged smaller copy.
MAX_WARP_SHRINK = 2.0

#: Where the network runs: torch, or onnxruntime (the ``onnx`` extra).
BACKENDS = ("torch", "onnx")

#: Where hands come from when no boxes are given (see the module docstring), and the bundled
#: weights each image-level finder loads unless others are given.
FINDERS = ("auto", "detector", "segmentation", "whole_image")
FINDER_WEIGHTS = {"detector": "detector", "segmentation": "handsegnet"}
#: ``auto`` keeps the whole image's hand, read as a close-up, from this pose score (the mean of the
#: 21 heatmap peaks) up, and asks the detector below it. Chosen on subject 001 of the real dev
#: frames, all close-ups of one hand, whose lowest close-up score is 0.33 with the bundled
#: ``default`` weights: every rule that let the detector choose any of its crops scored below the
#: whole image there (docs/model_card.md). Reported on subject 040: its lowest is 0.32.
CLOSE_UP_MIN_SCORE = 0.3


class Predictor:
    """Finds hands and predicts their keypoints; see the module docstring.

    ``weights``: a bundled weights name ("default"), a weights file, a training checkpoint or an
    ONNX file (``handpose export --onnx``). ``backend="onnx"`` runs the pose network and the hand
    detector with onnxruntime (``pip install handpose[onnx]``; about 3x faster per crop on these
    CPUs), exporting torch weights to ONNX in memory first; decoding is the same code either way.
    ``refine``: the second, tighter pass of the whole-image finder. ``finder``: one of
    :data:`FINDERS`; ``detector``: the weights (or estimator) of the detector or HandSegNet that
    finder uses, instead of the bundled ones.
    """

    def __init__(
        self,
        weights: str | Path = "default",
        device: str | torch.device = "cpu",
        refine: bool = True,
        estimator: Estimator | OnnxEstimator | None = None,
        backend: str = "torch",
        fov_degrees: float | None = None,
        focal_px: float | None = None,
        hand_size_mm: float | None = None,
        detector: str | Path | Estimator | None = None,
        finder: str = "auto",
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        self.estimator = estimator if estimator is not None else _load(weights, device, backend)
        self.refine = refine
        resolved = _resolve_finder(finder, detector)
        # "auto" stays the name where it means the close-up first, then the detector.
        self.finder = "auto" if finder == "auto" and resolved == "detector" else resolved
        if resolved == "whole_image":
            detector = None
        elif detector is None:
            detector = FINDER_WEIGHTS[resolved]
        # HandSegNet has no ONNX export: it stays on torch.
        finder_backend = backend if resolved == "detector" else "torch"
        self.detector = None if detector is None else load_hand_finder(detector, device, finder_backend)
        if fov_degrees is not None and focal_px is not None:
            raise ValueError("give a field of view or a focal length, not both")
        self.fov_degrees, self.focal_px, self.hand_size_mm = fov_degrees, focal_px, hand_size_mm

    def __call__(
        self,
        image: np.ndarray | str | Path,
        boxes: Sequence[Sequence[float]] | None = None,
        sides: Sequence[HandSide | None] | None = None,
        K: np.ndarray | None = None,
    ) -> list[HandPrediction]:
        """The hands in ``image`` (RGB uint8 array, or a file of any image format).

        ``boxes``: hand boxes x0, y0, x1, y1 in the image's pixels, one prediction each;
        ``sides``: the side of each box's hand as it appears, where known (None: decided by the
        network). Without boxes, the whole image is one hand crop. ``K``: the camera's
        intrinsics, for camera-frame 3D (else the Predictor's field of view or focal length).
        """
        pixels = load_image(image) if isinstance(image, (str, Path)) else _check_rgb(image)
        if boxes is None and self.detector is not None:
            close_up = self._whole_image(pixels)[0] if self.finder == "auto" else None
            if close_up is not None and close_up.score >= CLOSE_UP_MIN_SCORE:
                hands = [close_up]
            else:
                hands = self._detected(pixels)
        elif boxes is None:
            hands = self._whole_image(pixels)
        else:
            if sides is not None and len(sides) != len(boxes):
                raise ValueError(f"got {len(sides)} sides for {len(boxes)} boxes; give one per box or none")
            hands = self._in_boxes(pixels, [np.asarray(b, dtype=np.float64) for b in boxes], sides)
        camera = self._intrinsics(pixels.shape[1], pixels.shape[0]) if K is None else np.asarray(K, dtype=np.float64)
        assumed = intrinsics_from_fov(pixels.shape[1], pixels.shape[0], ASSUMED_FOV_DEGREES) if camera is None else camera
        hands = [anchor_prediction(hand, assumed, self.hand_size_mm) for hand in hands]
        return hands if camera is None else [self._placed(hand, camera) for hand in hands]

    def _detected(self, image: np.ndarray) -> list[HandPrediction]:
        """Every hand the detector finds, with its pose; the side and its confidence the finder's
        or the network's, whichever is surer."""
        found = self.detector.detect([image])[0]
        if not found:
            return []
        hints = [(hand.side, hand.side_score) for hand in found]
        poses = self._in_boxes(image, [hand.box for hand in found], None, hints)
        return [
            replace(hand.with_pose(pose), hand_side=pose.hand_side, hand_score=pose.hand_score)
            for hand, pose in zip(found, poses)
        ]

    def _intrinsics(self, width: int, height: int) -> np.ndarray | None:
        if self.fov_degrees is not None:
            return intrinsics_from_fov(width, height, self.fov_degrees)
        if self.focal_px is not None:
            return intrinsics_from_focal(width, height, self.focal_px)
        return None

    def _placed(self, hand: HandPrediction, K: np.ndarray) -> HandPrediction:
        """``hand`` with camera-frame 3D, where it has root-relative 3D and the fit succeeds."""
        if hand.keypoints_3d is None:
            return hand
        size = self.hand_size_mm if self.hand_size_mm is not None else mean_hand_size()
        try:
            fit = fit_camera_frame(hand.keypoints, hand.keypoints_3d, K, size_mm=size)
        except ValueError:  # 2D that no placement explains (behind the camera): no camera-frame 3D
            return hand
        return replace(hand, keypoints_3d_camera=fit.keypoints_3d)

    def _estimate(self, image: np.ndarray, boxes: list[CropBox], finder: str) -> list[HandPrediction]:
        """:func:`estimate_in_boxes` with boxes in ``image``'s pixels, each cut from the image or,
        where that would shrink it more than :data:`MAX_WARP_SHRINK` times, from an area-averaged
        copy scaled just enough; predictions in ``image``'s pixels."""
        limit = MAX_WARP_SHRINK * self.estimator.crop.input_size
        by_scale: dict[float, list[int]] = {}
        for index, box in enumerate(boxes):
            by_scale.setdefault(round(max(1.0, box.size / limit), 2), []).append(index)
        found: list[HandPrediction | None] = [None] * len(boxes)
        for factor, indices in by_scale.items():
            smaller, scale = _downscaled(image, factor)
            moved = [_box_in_scaled(boxes[i], scale) for i in indices]
            predictions = estimate_in_boxes(self.estimator, lambda i, copy=smaller: copy, moved, finder=finder)
            for index, prediction in zip(indices, predictions):
                found[index] = _rescaled(prediction, scale)
        return found  # type: ignore[return-value]

    def _whole_image(self, image: np.ndarray) -> list[HandPrediction]:
        height, width = image.shape[:2]
        whole = CropBox(center=((width - 1) / 2.0, (height - 1) / 2.0), size=float(max(width, height)))
        first = self._both_orientations(image, [whole], "whole_image")[0]
        if not self.refine:
            return [first]
        # The tight crop decides the side afresh (docs/model_card.md: measured on the real frames).
        tight = box_around(keypoint_box(first.keypoints), self.estimator.crop.padding)
        return self._both_orientations(image, [tight], "whole_image")

    def _in_boxes(
        self,
        image: np.ndarray,
        boxes: list[np.ndarray],
        sides: Sequence[HandSide | None] | None,
        hints: Sequence[tuple[HandSide | None, float]] | None = None,
    ) -> list[HandPrediction]:
        """One crop per box: the side given (``sides``), or decided by :meth:`_both_orientations`
        with a finder's ``hints``."""
        crop = self.estimator.crop
        crops = [box_around(box, crop.padding) for box in boxes]
        if sides is None:
            return self._both_orientations(image, crops, "boxes", hints)
        flips = [crop.flip_to_right and side == "left" for side in sides]
        found = self._estimate(image, [replace(c, flip=f) for c, f in zip(crops, flips)], "boxes")
        return [replace(p, hand_side=side, hand_score=1.0) for p, side in zip(found, sides)]

    def _both_orientations(
        self,
        image: np.ndarray,
        crops: list[CropBox],
        finder: str,
        hints: Sequence[tuple[HandSide | None, float]] | None = None,
    ) -> list[HandPrediction]:
        """Each crop as it is and mirrored; per crop the more confident one, with its side and
        that orientation's share of the two confidences. ``hints``: a finder's side and side
        confidence per crop, which win where surer than the network (the detector's side head
        can be weak: docs/model_card.md)."""
        hints = hints if hints is not None else [(None, 0.0)] * len(crops)
        if not self.estimator.crop.flip_to_right:  # a network of both hands: the finder's side, if any
            found = self._estimate(image, crops, finder)
            return [
                p if side is None else replace(p, hand_side=side, hand_score=score)
                for p, (side, score) in zip(found, hints)
            ]
        both = [replace(c, flip=flip) for c in crops for flip in (False, True)]
        found = self._estimate(image, both, finder)
        chosen = []
        for as_is, mirrored, (side, side_score) in zip(found[0::2], found[1::2], hints):
            best = as_is if as_is.score >= mirrored.score else mirrored
            total = as_is.score + mirrored.score
            share = best.score / total if total > 0 else 0.5
            if side is not None and side_score > share:
                best, share = (as_is if as_is.hand_side == side else mirrored), side_score
            chosen.append(replace(best, hand_score=share))
        return chosen


def load_hand_finder(
    finder: str | Path | Estimator | OnnxEstimator, device: str | torch.device = "cpu", backend: str = "torch"
) -> Estimator | OnnxEstimator:
    """A hand finder's estimator (the hand detector or HandSegNet), loaded on ``backend`` where
    ``finder`` names weights (a bundled name, weights file, checkpoint or ONNX file); a ValueError
    where it finds no hands (has no ``detect``)."""
    estimator = _load(finder, device, backend) if isinstance(finder, (str, Path)) else finder
    if not hasattr(estimator, "detect"):
        raise ValueError(f"{finder}: not a hand detector (its estimator is {estimator.name!r})")
    return estimator


def _resolve_finder(finder: str, detector: str | Path | Estimator | None) -> str:
    """The finder ``auto`` stands for: the detector where its weights are given or bundled."""
    if finder not in FINDERS:
        raise ValueError(f"unknown finder {finder!r}; choose one of {', '.join(FINDERS)}")
    if finder != "auto":
        return finder
    return (
        "detector" if detector is not None or resolve_weights(FINDER_WEIGHTS["detector"]).is_file() else "whole_image"
    )


def _load(weights: str | Path, device: str | torch.device, backend: str) -> Estimator | OnnxEstimator:
    """The estimator of ``weights`` on the backend asked for (an ONNX file always runs on onnxruntime)."""
    if str(weights).endswith(".onnx"):
        from handpose.inference.onnx_backend import load_onnx_estimator

        return load_onnx_estimator(weights)
    estimator = load_estimator(weights, device)
    if backend == "torch":
        return estimator
    from handpose.inference.onnx_backend import export_onnx, load_onnx_estimator

    with tempfile.TemporaryDirectory() as folder:
        return load_onnx_estimator(export_onnx(estimator, Path(folder) / "estimator.onnx"))


def _check_rgb(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"expected an RGB uint8 array (H, W, 3) or an image file, got "
            f"{getattr(image, 'shape', None)} {getattr(image, 'dtype', type(image).__name__)}"
        )
    return image


def _downscaled(image: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` shrunk ``factor`` times by area averaging, and the factors (x, y) back to it."""
    if factor == 1.0:
        return image, np.ones(2)
    height, width = image.shape[:2]
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.array([width / size[0], height / size[1]])


def _box_in_scaled(box: CropBox, scale: np.ndarray) -> CropBox:
    """``box`` in the pixels of a copy of its image shrunk by ``scale`` (x, y)."""
    if np.all(scale == 1.0):
        return box
    center = (np.asarray(box.center, dtype=np.float64) + 0.5) / scale - 0.5
    return replace(box, center=(float(center[0]), float(center[1])), size=box.size / float(scale[0]))


def _rescaled(prediction: HandPrediction, scale: np.ndarray) -> HandPrediction:
    """A prediction on an image downscaled by ``scale`` (x, y; area averaging) in the original's
    pixels: pixel centres sit at (x + 0.5) * scale - 0.5."""
    if np.all(scale == 1.0):
        return prediction
    return replace(
        prediction,
        keypoints=(prediction.keypoints + 0.5) * scale - 0.5,
        box=(prediction.box + 0.5) * np.tile(scale, 2) - 0.5,
    )
