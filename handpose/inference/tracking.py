"""Hands followed through a video, as MediaPipe Hands does it: find once, then track.

Finding hands in a whole frame is the expensive and the unsteady step; a hand moves little from
one frame to the next, so :class:`HandTracker` crops each hand of the next frame around the box of
its keypoints in the last frame, cut to the frame (the Predictor pads a given box with the
estimator's own padding, so the crop frames the hand as in training), and runs only the pose
network there. A hand is lost when its pose score drops below ``min_score`` or its keypoints all
left the frame. The finder (the Predictor without boxes: the hand detector, or whichever finder
it was given) runs again when a hand is lost, when there is none, and every ``redetect_every`` frames,
which picks up hands that came into view and repairs tracks that drifted.

Each hand keeps a track: an id stable across frames (new detections are given to tracks by box
IoU), its side, and optionally a One-Euro filter (:mod:`handpose.inference.smoothing`) that
smooths its keypoints. The next frame's crop comes from the unsmoothed keypoints, so smoothing
never makes the tracker lag behind a fast hand.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from handpose.inference.smoothing import OneEuroFilter, OneEuroParams
from handpose.structures import HandPrediction, HandSide, keypoint_box

#: Two tracks whose boxes overlap by more than this IoU follow the same hand; the younger ends.
#: Box tracks of two hands that touch can converge on one of them, and would then both follow it
#: forever (MediaPipe removes such duplicates the same way).
DUPLICATE_IOU = 0.5


class HandFinder(Protocol):
    """What the tracker runs on a frame: :class:`~handpose.inference.predictor.Predictor`'s call.

    With ``boxes``, one prediction per box (``sides``: each box's side where known); without, the
    hands it finds in the whole frame.
    """

    def __call__(
        self,
        image: np.ndarray,
        boxes: Sequence[Sequence[float]] | None = None,
        sides: Sequence[HandSide | None] | None = None,
    ) -> list[HandPrediction]: ...


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two x0, y0, x1, y1 boxes (0 when either has no area)."""
    ax0, ay0, ax1, ay1 = (float(v) for v in a)
    bx0, by0, bx1, by1 = (float(v) for v in b)
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    union = max(0.0, ax1 - ax0) * max(0.0, ay1 - ay0) + max(0.0, bx1 - bx0) * max(0.0, by1 - by0) - inter
    return inter / union if union > 0 else 0.0


@dataclass(eq=False)  # a track is itself, not its contents: compared by identity
class _Track:
    """One hand over time: its latest accepted prediction (unsmoothed), side votes and filter."""

    track_id: int
    prediction: HandPrediction
    smoother: OneEuroFilter | None
    votes: dict[str, float] = field(default_factory=dict)

    @property
    def box(self) -> np.ndarray:
        """The box of the latest keypoints: where the hand is looked for in the next frame."""
        return keypoint_box(self.prediction.keypoints)

    @property
    def side(self) -> HandSide | None:
        """The side with the most confidence (summed ``hand_score``) over the predictions whose
        side the network decided; None before any decided one. One misjudged frame cannot flip it."""
        if not self.votes:
            return None
        return max(self.votes, key=lambda side: self.votes[side])  # type: ignore[return-value]

    def vote(self, prediction: HandPrediction) -> None:
        if prediction.hand_side is not None:
            self.votes[prediction.hand_side] = self.votes.get(prediction.hand_side, 0.0) + float(prediction.hand_score)


class HandTracker:
    """Hands in consecutive video frames, each with a ``track_id``; call it once per frame.

    ``predictor``: a :class:`HandFinder`, e.g. ``Predictor(tta_rotations=PLAIN_VIEW)``, one view of
    each crop as ``handpose predict`` tracks video (the Predictor's default test-time views would
    cost every frame about 1.5 times the time). ``redetect_every``: run the finder
    every this many frames even when every hand is tracked (None: only when a hand is lost or none
    is tracked); a hand that comes into view is found within this many frames. ``min_score``: the
    pose score (mean keypoint score) below which a tracked hand is taken as lost and a found one as
    no hand; with the default heatmap estimators (trained on peak-1 heatmaps) it is a mean heatmap
    peak, 1 for a certain prediction. The default 0.3 is a starting point, not a measured
    threshold: set it from the scores the weights in use give on hands and on crops without one.
    ``iou_threshold``: the least box IoU at which a found hand continues a track rather than
    starting one. ``smoothing``: One-Euro settings for each track's keypoints (on by default: a
    video wants it; single images are never smoothed), None for raw keypoints. ``frame_rate``:
    frames per second, the clock of the smoothing when frames come without timestamps.

    Returned predictions are the tracked hands in order of ``track_id`` (ids count up from 0 and are
    never reused); ``hand_side`` is the track's side, ``finder`` "tracking" for a hand cropped
    around its last keypoints, else the finder's own; with smoothing, ``keypoints`` and ``box`` are
    smoothed (the box is the smoothed keypoints' box, as the estimators' boxes are their
    keypoints').
    """

    def __init__(
        self,
        predictor: HandFinder,
        redetect_every: int | None = 30,
        min_score: float = 0.3,
        iou_threshold: float = 0.3,
        smoothing: OneEuroParams | None = OneEuroParams(),  # noqa: B008 (frozen: safe to share)
        frame_rate: float = 30.0,
    ) -> None:
        if redetect_every is not None and redetect_every < 1:
            raise ValueError(f"redetect_every must be at least 1 frame (or None), got {redetect_every}")
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        if not frame_rate > 0:
            raise ValueError(f"frame_rate must be positive (frames per second), got {frame_rate}")
        self.predictor = predictor
        self.redetect_every = redetect_every
        self.min_score = float(min_score)
        self.iou_threshold = float(iou_threshold)
        self.smoothing = smoothing
        self.frame_rate = float(frame_rate)
        self.reset()

    def reset(self) -> None:
        """Forget every track (a new video, a cut); ids start again from 0."""
        self._tracks: list[_Track] = []
        self._ids = itertools.count()
        self._since_detection = 0  # frames since the finder last ran
        self._time: float | None = None

    def __call__(self, frame_rgb: np.ndarray, timestamp: float | None = None) -> list[HandPrediction]:
        """The hands in this frame (RGB uint8). ``timestamp`` (seconds, increasing) times the
        smoothing; None takes the last one plus 1 / ``frame_rate``."""
        if timestamp is None:
            timestamp = 0.0 if self._time is None else self._time + 1.0 / self.frame_rate
        self._time = float(timestamp)
        lost = self._track(frame_rgb)
        self._since_detection += 1
        periodic = self.redetect_every is not None and self._since_detection >= self.redetect_every
        if lost or not self._tracks or periodic:
            self._detect(frame_rgb, lost)
            self._since_detection = 0
        self._tracks = [track for track in self._tracks if track not in lost]
        self._drop_duplicates()
        return [self._output(track) for track in self._tracks]

    def _track(self, frame_rgb: np.ndarray) -> list[_Track]:
        """Each track's hand cropped around its last keypoints, their box cut to the frame;
        returns the tracks whose pose score fell below ``min_score`` or whose keypoints all left
        the frame (their last prediction is kept, for matching).

        Cutting the box to the frame keeps the crops bounded: keypoints spread wide by a poor
        prediction would otherwise widen the next crop, and the one after, without end."""
        height, width = frame_rgb.shape[:2]
        frame_limits = np.array([width, height, width, height]) - 0.5
        lost, tracked, boxes = [], [], []
        for track in self._tracks:
            box = np.clip(track.box, -0.5, frame_limits)
            if box[2] > box[0] and box[3] > box[1]:
                tracked.append(track)
                boxes.append(box)
            else:
                lost.append(track)
        if not tracked:
            return lost
        sides = [track.side for track in tracked]
        known = all(side is not None for side in sides)  # else the network decides every box's side
        found = self.predictor(frame_rgb, boxes=boxes, sides=sides if known else None)
        for track, prediction in zip(tracked, found, strict=True):
            if prediction.score < self.min_score:
                lost.append(track)
                continue
            if not known:
                track.vote(prediction)
            track.prediction = replace(prediction, finder="tracking")
        return lost

    def _detect(self, frame_rgb: np.ndarray, lost: list[_Track]) -> None:
        """Run the finder; each hand it finds continues the track it overlaps most (IoU, greedy),
        replacing that track's prediction where it is more confident or the track was lost, or
        starts a new track. A lost track that no found hand continues ends (by the caller)."""
        found = [p for p in self.predictor(frame_rgb) if p.score >= self.min_score]
        pairs = sorted(
            (
                (box_iou(track.box, hand.box), t, h)
                for t, track in enumerate(self._tracks)
                for h, hand in enumerate(found)
            ),
            reverse=True,
        )
        matched_tracks: set[int] = set()
        matched_hands: set[int] = set()
        for iou, t, h in pairs:
            if iou < self.iou_threshold:
                break
            if t in matched_tracks or h in matched_hands:
                continue
            matched_tracks.add(t)
            matched_hands.add(h)
            track, hand = self._tracks[t], found[h]
            track.vote(hand)
            if track in lost:
                lost.remove(track)
                track.prediction = hand
            elif hand.score > track.prediction.score:
                track.prediction = hand
        for h, hand in enumerate(found):
            if h not in matched_hands:
                smoother = OneEuroFilter(self.smoothing, self.frame_rate) if self.smoothing is not None else None
                track = _Track(next(self._ids), hand, smoother)
                track.vote(hand)
                self._tracks.append(track)

    def _drop_duplicates(self) -> None:
        """End the younger of two tracks that follow the same hand (see :data:`DUPLICATE_IOU`)."""
        kept: list[_Track] = []
        for track in self._tracks:  # oldest first: tracks are appended as they start
            if all(box_iou(track.box, other.box) <= DUPLICATE_IOU for other in kept):
                kept.append(track)
        self._tracks = kept

    def _output(self, track: _Track) -> HandPrediction:
        prediction = replace(
            track.prediction, track_id=track.track_id, hand_side=track.side or track.prediction.hand_side
        )
        if track.smoother is None:
            return prediction
        keypoints = track.smoother(prediction.keypoints, self._time)
        return replace(prediction, keypoints=keypoints, box=keypoint_box(keypoints))
