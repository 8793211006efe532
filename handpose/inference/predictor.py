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
  - ``auto`` (the default): the whole image read as a close-up first, and its hand kept where the
    pose score of its more confident orientation (not necessarily the one a side head chose)
    reaches :data:`CLOSE_UP_MIN_SCORE`; below that, the detector's hands (its weights bundled or
    given; without a detector, ``auto`` is ``whole_image``). A webcam frame or a close-up photo is
    the whole image's case, where a detector trained on synthetic scenes crops worse. The
    close-up's pose score tells a close-up from a scene of several or small hands only roughly
    (it reached the threshold in 367 of 413 synthetic scenes of 0-4 hands): for such
    photos choose ``detector``.

The pose networks see right hands only (left ones are mirrored in training). Where no one says
which side a hand is, each crop (both passes of the whole-image finder) is run both as it is and
mirrored; the orientation whose keypoints are more confident wins and gives the side as the hand
appears in the image, and ``hand_score`` is that orientation's share of the two confidences (0.5:
undecided, 1: certain). An estimator with a side head (the bundled default) decides instead by
what its head reads off both crops, and ``hand_score`` is the probability of the side chosen:
right far more often on real photos (docs/results.md, "Which side a crop shows").

Test-time options, measured on the real dev frames (chosen on subject 001, reported on the held-out
040; docs/results.md, "Test-time options on the real frames"): ``refine_passes``, how many tighter
passes follow the whole-image pass (1 by default, 0 is ``refine=False``; a second one scored 0.001
lower on 001 and 0.020 lower on 040); ``tta_scales`` and ``tta_rotations``, extra views of each
hand's final crop (the last pass of the whole-image finder, a box's or a found hand's crop): the
crop at each scale of its size times each in-plane rotation, in the orientation the plain crop
chose, their image-space keypoints combined by ``tta_combine`` (``best``: the view of the highest
pose score; ``mean``: per joint, the keypoint-score-weighted mean). By default three views,
:data:`DEFAULT_ROTATIONS` (the crop as it is and turned 40 degrees either way) with ``best``: the
highest of the three-view rotation sets on 001 (+-15 to +-60 degrees; AUC 0.694 -> 0.714 there),
it gains on 040 too (0.573 -> 0.586) for about 1.5 times the time per image (two crops more than
the four of the close-up path). Video is tracked with one view (``handpose predict`` on a video
or webcam passes :data:`PLAIN_VIEW` unless told otherwise), since every frame would pay that time
(the views were not measured with tracking). Five views (+-25, +-45) gained a little more (001
0.719) for about twice the time; scales 0.9 and 1.0 with ``best`` +0.005 on 001, +0.003 on 040;
every ``mean`` tried scored lower on 001 than the plain crop, and the view whose keypoints agree
best with the others' lower than the best-scoring view.

``keypoint_spread`` spreads each hand's 2D keypoints about their mean by that factor, after every
other step and before the 3D is anchored on them; by default by the factor the weights record
(:attr:`~handpose.estimators.Estimator.keypoint_spread`: 1.04 for the bundled ``default``, 1.0,
none, for weights without one). The bundled network, trained on synthetic hands only, draws real
hands about 4% too small, the wrist and knuckles pulled towards the fingers and the tips towards
the palm; the factor was chosen on subject 001 of the real dev frames (AUC 0-30 px, whole images:
1.0 0.685, 1.02 0.691, 1.04 0.694, 1.06 0.693, 1.08 0.689; a factor per axis of the hand did no
better) and gains on subject 040 (0.562 -> 0.573) and on the 35 outdoor frames with 3D (annotated
boxes, 0.563 -> 0.567); on synthetic hands it loses a little (0.725 -> 0.720 in image pixels), so
it belongs to real photos, where the Predictor is used (docs/results.md, "Real hands come out
small").

``upright`` (off by default) turns each hand's final crop so that the hand stands upright in it,
its wrist below its middle-finger knuckle as the previous pass predicted them, as MediaPipe turns
its landmark crops: the whole-image finder's refine passes are turned (no extra crop), a box's or a
found hand's crop is run again turned (twice the crops). Measured in docs/results.md, "Upright
crops".

Every crop is cut from the full-resolution image, as Hand4Whole asks for small hands, except where
the crop's warp would shrink it more than :data:`MAX_WARP_SHRINK` times: then from a copy of the
image downscaled with area averaging, so that a 4000-pixel photo is not aliased by a 128-pixel
crop. Keypoints always come back in the original image's pixels.

An estimator that predicts 3D gives root-relative ``keypoints_3d`` in mm: the network's 3D shape
re-anchored on its 2D keypoints (its depths relative to the wrist kept, each joint put on its
keypoint's ray; :func:`handpose.geometry.lift_25d.anchor_prediction`), with the image's camera
where known, else a field of view of :data:`~handpose.geometry.lift_25d.ASSUMED_FOV_DEGREES`.
Where the camera is known (``K``, or a field of view or focal length for a photo) each hand is
also placed in the camera frame (``keypoints_3d_camera``): that same re-anchored hand, which
already lies on its keypoints' rays in the camera frame, scaled about the camera centre to the
mean hand's size (or ``hand_size_mm``) from wrist to middle MCP, so it still projects exactly onto
the 2D keypoints. (This is what fitting the re-anchored shape at that size into the camera frame,
:func:`handpose.geometry.fit_3d.fit_camera_frame`, gives, to 1e-12 mm on the real 3D frames, with
no second fit.) A hand whose shape has no lift in front of the camera keeps the network's shape,
placed by :func:`~handpose.geometry.fit_3d.fit_camera_frame` where that succeeds.
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
from handpose.geometry.fit_3d import (
    fit_camera_frame,
    hand_size,
    intrinsics_from_focal,
    intrinsics_from_fov,
    mean_hand_size,
)
from handpose.geometry.lift_25d import ASSUMED_FOV_DEGREES, anchor_to_2d
from handpose.inference.crops import estimate_in_boxes, turned_upright
from handpose.inference.sources import load_image
from handpose.inference.weights import checked_spread, load_estimator, resolve_weights
from handpose.skeleton import ROOT
from handpose.structures import HandPrediction, HandSide, keypoint_box

if TYPE_CHECKING:
    from handpose.inference.onnx_backend import OnnxEstimator

#: How ``tta_combine`` merges the views of a hand's final crop (module docstring).
TTA_COMBINES = ("mean", "best")

#: The in-plane rotations (degrees) of each hand's final crop that the Predictor looks at by
#: default, the best view kept: chosen on subject 001 of the real dev frames among three-view sets
#: (module docstring; docs/results.md, "Three views by default").
DEFAULT_ROTATIONS = (-40.0, 0.0, 40.0)

#: One plain view: the pipeline without test-time views (tracking, self-training's teacher).
PLAIN_VIEW = (0.0,)

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
    ``refine``: the tighter pass(es) of the whole-image finder, ``refine_passes`` of them (each
    on the box of the previous pass's keypoints; ``refine=False`` means none). ``tta_scales``,
    ``tta_rotations`` (degrees, counter-clockwise) and ``tta_combine``: test-time views of each
    hand's final crop (module docstring); by default :data:`DEFAULT_ROTATIONS` with ``best``, and
    ``tta_rotations=PLAIN_VIEW`` runs exactly the pipeline without views. ``upright``: turn each
    hand's final crop so that the hand stands upright (module docstring). ``finder``: one of
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
        refine_passes: int = 1,
        tta_scales: Sequence[float] = (1.0,),
        tta_rotations: Sequence[float] = DEFAULT_ROTATIONS,
        tta_combine: str = "best",
        upright: bool = False,
        keypoint_spread: float | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        if hand_size_mm is not None and not (np.isfinite(hand_size_mm) and hand_size_mm > 0):
            raise ValueError(f"the hand size must be a positive length in mm, got {hand_size_mm}")
        passes = _check_refine_passes(refine_passes)
        self.refine_passes = passes if refine else 0
        self.tta_views = _tta_views(tta_scales, tta_rotations)
        if tta_combine not in TTA_COMBINES:
            raise ValueError(f"unknown tta_combine {tta_combine!r}; choose one of {', '.join(TTA_COMBINES)}")
        self.tta_combine = tta_combine
        self.upright = upright
        self.estimator = estimator if estimator is not None else load_for_backend(weights, device, backend)
        self.keypoint_spread = checked_spread(self.estimator.keypoint_spread if keypoint_spread is None else keypoint_spread)
        self.refine = refine and self.refine_passes > 0
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
            close_up, presence = self._whole_image(pixels) if self.finder == "auto" else ([], 0.0)
            hands = close_up if presence >= CLOSE_UP_MIN_SCORE else self._detected(pixels)
        elif boxes is None:
            hands = self._whole_image(pixels)[0]
        else:
            if sides is not None and len(sides) != len(boxes):
                raise ValueError(f"got {len(sides)} sides for {len(boxes)} boxes; give one per box or none")
            hands = self._in_boxes(pixels, [np.asarray(b, dtype=np.float64) for b in boxes], sides)
        if self.keypoint_spread != 1.0:
            hands = [replace(hand, keypoints=spread_about_mean(hand.keypoints, self.keypoint_spread)) for hand in hands]
        camera = self._intrinsics(pixels.shape[1], pixels.shape[0]) if K is None else np.asarray(K, dtype=np.float64)
        assumed = intrinsics_from_fov(pixels.shape[1], pixels.shape[0], ASSUMED_FOV_DEGREES) if camera is None else camera
        return [self._anchored(hand, assumed, placed=camera is not None) for hand in hands]

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

    def _anchored(self, hand: HandPrediction, K: np.ndarray, placed: bool) -> HandPrediction:
        """``hand`` with its 3D re-anchored on its 2D keypoints with ``K`` (root-relative, as
        :func:`~handpose.geometry.lift_25d.anchor_prediction` gives it), and, where ``placed`` (K is
        the real camera), that lift in the camera frame at the hand size (module docstring). A
        hand with no lift in front of the camera keeps the network's shape, placed by
        :meth:`_placed`."""
        if hand.keypoints_3d is None:
            return hand
        lifted = anchor_to_2d(hand.keypoints, hand.keypoints_3d, K, self.hand_size_mm)
        if not np.isfinite(lifted).all():
            return self._placed(hand, K) if placed else hand
        anchored = replace(hand, keypoints_3d=lifted - lifted[ROOT])
        own_size = hand_size(lifted)
        if not placed or not own_size > 0:  # a lift of size 0 has no scale to take (fit_camera_frame's ValueError)
            return anchored
        # Scaling about the camera centre keeps every joint on its ray: the 2D stays exact.
        return replace(anchored, keypoints_3d_camera=lifted * (self._hand_size() / own_size))

    def _hand_size(self) -> float:
        return self.hand_size_mm if self.hand_size_mm is not None else mean_hand_size()

    def _placed(self, hand: HandPrediction, K: np.ndarray) -> HandPrediction:
        """``hand`` with camera-frame 3D fitted from its root-relative 3D, where it has that and
        the fit succeeds: the fallback for a shape with no lift (:meth:`_anchored`)."""
        if hand.keypoints_3d is None:
            return hand
        size = self._hand_size()
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

    def _whole_image(self, image: np.ndarray) -> tuple[list[HandPrediction], float]:
        """The close-up's hand, and how sure the last pass is that the crop shows a hand at all:
        the pose score of its more confident orientation, whichever orientation was chosen (a
        side head may choose the less confident one)."""
        height, width = image.shape[:2]
        whole = CropBox(center=((width - 1) / 2.0, (height - 1) / 2.0), size=float(max(width, height)))
        crop = whole
        found, presence = self._both_orientations(image, [crop], "whole_image")
        for _ in range(self.refine_passes):
            # Each tighter crop decides the side afresh (docs/model_card.md: measured on the real frames).
            crop = box_around(keypoint_box(found[0].keypoints), self.estimator.crop.padding)
            if self.upright:
                crop = turned_upright([crop], found)[0]
            found, presence = self._both_orientations(image, [crop], "whole_image")
        return self._with_views(image, [crop], found, "whole_image"), presence[0]

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
            found = self._both_orientations(image, crops, "boxes", hints)[0]
            if self.upright:  # the turned crop decides the side afresh, as a refine pass does
                crops = turned_upright(crops, found)
                found = self._both_orientations(image, crops, "boxes", hints)[0]
            return self._with_views(image, crops, found, "boxes")
        flips = [crop.flip_to_right and side == "left" for side in sides]
        crops = [replace(c, flip=f) for c, f in zip(crops, flips)]
        found = self._estimate(image, crops, "boxes")
        if self.upright:
            crops = turned_upright(crops, found)
            found = self._estimate(image, crops, "boxes")
        found = [replace(p, hand_side=side, hand_score=1.0) for p, side in zip(found, sides)]
        return self._with_views(image, crops, found, "boxes", flips)

    def _with_views(
        self,
        image: np.ndarray,
        crops: list[CropBox],
        found: list[HandPrediction],
        finder: str,
        flips: Sequence[bool] | None = None,
    ) -> list[HandPrediction]:
        """``found``, each the prediction of the plain crop in ``crops``, combined with the extra
        test-time views of that crop (:attr:`tta_views`), run in the orientation it chose
        (``flips``, else read off its side); as they are with the plain view alone."""
        if self.tta_views == ((1.0, 0.0),):
            return found
        if flips is None:
            flips = [self.estimator.crop.flip_to_right and p.hand_side == "left" for p in found]
        extra = [view for view in self.tta_views if view != (1.0, 0.0)]
        boxes = [
            replace(c, size=c.size * scale, rotation=c.rotation + turn, flip=bool(flip))
            for c, flip in zip(crops, flips)
            for scale, turn in extra
        ]
        views = self._estimate(image, boxes, finder)
        plain = (1.0, 0.0) in self.tta_views
        combined = []
        for index, hand in enumerate(found):
            own = views[index * len(extra) : (index + 1) * len(extra)]
            combined.append(_combine_views(hand, ([hand] if plain else []) + own, self.tta_combine))
        return combined

    def _both_orientations(
        self,
        image: np.ndarray,
        crops: list[CropBox],
        finder: str,
        hints: Sequence[tuple[HandSide | None, float]] | None = None,
    ) -> tuple[list[HandPrediction], list[float]]:
        """Each crop as it is and mirrored; per crop the more confident one, with its side and
        that orientation's share of the two confidences, or, for an estimator with a side head
        (:attr:`~handpose.estimators.Estimator.reads_side`), the side both crops' heads make more
        likely, with that probability. ``hints``: a finder's side and side confidence per crop,
        which win where surer than the network (the detector's side head can be weak:
        docs/model_card.md). Also, per crop, the higher pose score of its two orientations: how
        sure the network is that the crop holds a hand, whatever side it chose."""
        hints = hints if hints is not None else [(None, 0.0)] * len(crops)
        if not self.estimator.crop.flip_to_right:  # a network of both hands: the finder's side, if any
            found = self._estimate(image, crops, finder)
            sided = [
                p if side is None else replace(p, hand_side=side, hand_score=score)
                for p, (side, score) in zip(found, hints)
            ]
            return sided, [p.score for p in found]
        both = [replace(c, flip=flip) for c in crops for flip in (False, True)]
        found = self._estimate(image, both, finder)
        chosen = []
        for as_is, mirrored, (side, side_score) in zip(found[0::2], found[1::2], hints):
            if self.estimator.reads_side:  # both crops' side heads: how likely the hand appears as a right one
                right = (as_is.hand_score + 1.0 - mirrored.hand_score) / 2.0
                best, share = (as_is, right) if right >= 0.5 else (mirrored, 1.0 - right)
            else:
                best = as_is if as_is.score >= mirrored.score else mirrored
                total = as_is.score + mirrored.score
                share = best.score / total if total > 0 else 0.5
            if side is not None and side_score > share:
                best, share = (as_is if as_is.hand_side == side else mirrored), side_score
            chosen.append(replace(best, hand_score=share))
        return chosen, [max(a.score, m.score) for a, m in zip(found[0::2], found[1::2])]


def spread_about_mean(keypoints: np.ndarray, factor: float) -> np.ndarray:
    """``keypoints`` (N, 2) moved away from their mean by ``factor`` (below 1: towards it)."""
    centre = keypoints.mean(axis=0)
    return centre + (keypoints - centre) * factor


def _check_refine_passes(passes: int) -> int:
    if isinstance(passes, bool) or not isinstance(passes, (int, np.integer)) or passes < 0:
        raise ValueError(f"refine_passes must be a whole number of passes, 0 or more, got {passes!r}")
    return int(passes)


def _tta_views(scales: Sequence[float], rotations: Sequence[float]) -> tuple[tuple[float, float], ...]:
    """Every (scale, rotation) pair of the test-time views, checked: scales positive, rotations
    within +-90 degrees, no view twice."""
    scales, rotations = tuple(float(s) for s in scales), tuple(float(r) for r in rotations)
    if not scales or not all(np.isfinite(s) and s > 0 for s in scales):
        raise ValueError(f"tta_scales must be one or more positive box scales (1.0: the crop as it is), got {scales}")
    if not rotations or not all(np.isfinite(r) and abs(r) <= 90.0 for r in rotations):
        raise ValueError(f"tta_rotations must be one or more angles in degrees within +-90 (0: upright), got {rotations}")
    if len(set(scales)) != len(scales) or len(set(rotations)) != len(rotations):
        raise ValueError(f"tta_scales and tta_rotations must not repeat a value, got {scales} and {rotations}")
    return tuple((s, r) for s in scales for r in rotations)


def _combine_views(hand: HandPrediction, views: list[HandPrediction], combine: str) -> HandPrediction:
    """``hand`` (side, hand score, finder as they are) with the keypoints of its test-time
    ``views`` combined: ``best``, the view of the highest pose score, whole; ``mean``, per joint
    the keypoint-score-weighted mean of the views' keypoints (the plain mean where a joint scores
    0 in every view) and the mean of their scores, the 3D of the highest-scoring view."""
    best = max(views, key=lambda view: view.score)
    if combine == "best":
        keypoints, scores = best.keypoints, best.keypoint_scores
    else:
        points = np.stack([view.keypoints for view in views])  # (V, 21, 2)
        weights = np.clip(np.stack([view.keypoint_scores for view in views]), 0.0, None)  # (V, 21)
        weights = np.where(weights.sum(axis=0) > 0, weights, 1.0)
        keypoints = (weights[..., None] * points).sum(axis=0) / weights.sum(axis=0)[:, None]
        scores = np.mean([view.keypoint_scores for view in views], axis=0)
    return replace(
        hand,
        box=np.concatenate([keypoints.min(axis=0), keypoints.max(axis=0)]).astype(np.float64),
        keypoints=keypoints,
        keypoint_scores=scores,
        keypoints_3d=best.keypoints_3d,
    )


def load_hand_finder(
    finder: str | Path | Estimator | OnnxEstimator, device: str | torch.device = "cpu", backend: str = "torch"
) -> Estimator | OnnxEstimator:
    """A hand finder's estimator (the hand detector or HandSegNet), loaded on ``backend`` where
    ``finder`` names weights (a bundled name, weights file, checkpoint or ONNX file); a ValueError
    where it finds no hands (has no ``detect``)."""
    estimator = load_for_backend(finder, device, backend) if isinstance(finder, (str, Path)) else finder
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


def load_for_backend(weights: str | Path, device: str | torch.device, backend: str) -> Estimator | OnnxEstimator:
    """The estimator of ``weights`` on ``backend`` ("torch", or "onnx": exported on the fly and run by
    onnxruntime); an ONNX file always runs on onnxruntime."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
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
