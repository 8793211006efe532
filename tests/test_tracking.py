"""HandTracker against a scripted predictor: the hands of each frame are written down in advance,
and the fake predictor answers as a perfect pose network would, with the scores the script says."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from handpose.inference.predictor import Predictor
from handpose.inference.smoothing import OneEuroParams
from handpose.inference.tracking import HandTracker, box_iou
from handpose.skeleton import NUM_JOINTS
from handpose.structures import HandPrediction, keypoint_box

from geometry_reading import GeometryReadingEstimator, coordinate_image

SHAPE = np.random.default_rng(0).uniform(-20.0, 20.0, (NUM_JOINTS, 2))  # a 40-pixel hand


@dataclass
class ScriptedHand:
    """A hand at ``centre`` with the given side; ``score`` is what a crop on it scores, ``found``
    whether the whole-frame finder sees it and with what side confidence."""

    centre: tuple[float, float]
    side: str = "right"
    score: float = 0.9
    found: bool = True
    found_side: str | None = None  # the side the finder reports, where it errs
    found_side_score: float = 0.9

    @property
    def keypoints(self) -> np.ndarray:
        return np.asarray(self.centre) + SHAPE


@dataclass
class ScriptedPredictor:
    """Answers from a script: frame number (read from pixel 0, 0) -> hands in that frame. Records
    every call as (frame, boxes, sides)."""

    script: dict[int, list[ScriptedHand]]
    calls: list[tuple[int, list | None, list | None]] = field(default_factory=list)

    def __call__(self, image, boxes=None, sides=None) -> list[HandPrediction]:
        frame = int(image[0, 0, 0])
        hands = self.script.get(frame, [])
        self.calls.append((frame, None if boxes is None else [np.asarray(b) for b in boxes], sides))
        if boxes is None:
            return [
                prediction(h.keypoints, h.score, h.found_side or h.side, h.found_side_score, "whole_image")
                for h in hands
                if h.found
            ]
        answers = []
        for i, box in enumerate(boxes):
            centre = (np.asarray(box[:2]) + np.asarray(box[2:])) / 2
            distances = [np.linalg.norm(centre - np.asarray(h.centre)) for h in hands]
            if not distances or min(distances) > np.max(np.asarray(box[2:]) - box[:2]):  # no hand in the crop
                answers.append(prediction(centre + SHAPE, 0.05, "right", 0.5, "boxes"))
                continue
            h = hands[int(np.argmin(distances))]
            side = sides[i] if sides is not None else h.side
            answers.append(prediction(h.keypoints, h.score, side, 1.0 if sides is not None else 0.9, "boxes"))
        return answers

    def detections(self) -> list[int]:
        """The frames on which the whole-frame finder ran."""
        return [frame for frame, boxes, _ in self.calls if boxes is None]


def prediction(keypoints: np.ndarray, score: float, side: str, side_score: float, finder: str) -> HandPrediction:
    return HandPrediction(
        box=keypoint_box(keypoints),
        keypoints=np.asarray(keypoints, dtype=np.float64),
        keypoint_scores=np.full(NUM_JOINTS, score),
        hand_side=side,  # type: ignore[arg-type]
        hand_score=side_score,
        finder=finder,
    )


def frame(index: int) -> np.ndarray:
    image = np.zeros((240, 320, 3), dtype=np.uint8)
    image[0, 0, 0] = index
    return image


def run(tracker: HandTracker, frames: int) -> list[list[HandPrediction]]:
    return [tracker(frame(i)) for i in range(frames)]


def ids(found: list[HandPrediction]) -> list[int | None]:
    return [p.track_id for p in found]


def test_one_hand_keeps_its_id_through_small_motion_and_is_found_only_once():
    script = {i: [ScriptedHand((100.0 + 3 * i, 120.0 - 2 * i))] for i in range(20)}
    predictor = ScriptedPredictor(script)
    out = run(HandTracker(predictor, redetect_every=None, smoothing=None), 20)
    assert [ids(found) for found in out] == [[0]] * 20
    assert predictor.detections() == [0]
    assert [p.finder for found in out for p in found] == ["whole_image"] + ["tracking"] * 19
    np.testing.assert_allclose(out[-1][0].keypoints, script[19][0].keypoints)


def test_the_next_crop_is_the_box_of_the_last_raw_keypoints_even_when_smoothing():
    rng = np.random.default_rng(1)
    script = {i: [ScriptedHand(tuple(np.array([150.0, 100.0]) + rng.normal(0, 2.0, 2)))] for i in range(6)}
    predictor = ScriptedPredictor(script)
    out = run(HandTracker(predictor, redetect_every=None, smoothing=OneEuroParams()), 6)
    tracked = [(frame, boxes) for frame, boxes, _ in predictor.calls if boxes is not None]
    for frame_index, (box,) in tracked:
        np.testing.assert_allclose(box, keypoint_box(script[frame_index - 1][0].keypoints))
    assert not np.allclose(out[-1][0].keypoints, script[5][0].keypoints)  # the output is smoothed
    np.testing.assert_allclose(out[-1][0].box, keypoint_box(out[-1][0].keypoints))


def test_a_new_hand_gets_a_new_id_at_the_next_redetection():
    left = lambda i: ScriptedHand((80.0 + i, 120.0), side="left")
    script = {i: [left(i)] + ([ScriptedHand((240.0, 120.0 + i))] if i >= 4 else []) for i in range(10)}
    predictor = ScriptedPredictor(script)
    out = run(HandTracker(predictor, redetect_every=3, smoothing=None), 10)
    assert predictor.detections() == [0, 3, 6, 9]
    assert [ids(found) for found in out] == [[0]] * 6 + [[0, 1]] * 4  # seen from frame 6 on
    assert [p.hand_side for p in out[-1]] == ["left", "right"]


def test_a_lost_hand_s_track_ends_and_a_returning_hand_starts_a_new_one():
    script = {i: [ScriptedHand((100.0, 100.0))] for i in range(10)}
    for i in (4, 5):
        script[i] = [ScriptedHand((100.0, 100.0), score=0.1)]  # e.g. covered: every crop scores low
    predictor = ScriptedPredictor(script)
    out = run(HandTracker(predictor, redetect_every=None, min_score=0.3, smoothing=None), 10)
    assert [ids(found) for found in out] == [[0]] * 4 + [[], []] + [[1]] * 4
    assert predictor.detections() == [0, 4, 5, 6]  # lost at 4: the finder runs until it finds it again


def test_a_track_whose_crop_fails_but_whose_hand_is_found_again_keeps_its_id():
    script = {i: [ScriptedHand((100.0 + 2 * i, 100.0))] for i in range(6)}
    script[3] = [ScriptedHand((106.0, 100.0), score=0.9)]
    predictor = ScriptedPredictor(script)
    tracker = HandTracker(predictor, redetect_every=None, min_score=0.3, smoothing=None)
    run(tracker, 3)

    def weak_crop(image, boxes=None, sides=None):
        found = ScriptedPredictor.__call__(predictor, image, boxes, sides)
        return [p if boxes is None else prediction(p.keypoints, 0.1, p.hand_side, 1.0, "boxes") for p in found]

    tracker.predictor = weak_crop
    assert ids(tracker(frame(3))) == [0]  # lost by its crop, found again by the finder in the same frame
    assert predictor.detections() == [0, 3]


def test_crops_stay_inside_the_frame_and_a_hand_that_left_it_is_lost():
    script = {i: [ScriptedHand((280.0 + 15 * i, 120.0))] for i in range(8)}  # leaving a 320-pixel frame
    for hands in script.values():
        hands[0].found = keypoint_box(hands[0].keypoints)[0] < 319.5
    gone = next(i for i, hands in script.items() if not hands[0].found)  # every keypoint outside from here
    predictor = ScriptedPredictor(script)
    out = run(HandTracker(predictor, redetect_every=None, smoothing=None), 8)
    assert [ids(found) for found in out] == [[0]] * (gone + 1) + [[]] * (7 - gone)
    boxes = [box for _, tracked, _ in predictor.calls if tracked is not None for box in tracked]
    assert len(boxes) == gone and all(box.min() >= -0.5 and box[[0, 2]].max() <= 319.5 for box in boxes)


def test_redetection_runs_every_n_frames():
    script = {i: [ScriptedHand((100.0, 100.0))] for i in range(12)}
    predictor = ScriptedPredictor(script)
    run(HandTracker(predictor, redetect_every=4, smoothing=None), 12)
    assert predictor.detections() == [0, 4, 8]
    assert all(boxes is not None for frame, boxes, _ in predictor.calls if frame % 4)  # tracked in between


def test_each_track_keeps_its_side_through_a_finder_s_mistake():
    def hands(i: int) -> list[ScriptedHand]:
        wrong = i == 4  # the finder calls the left hand "right" once, not very sure
        return [
            ScriptedHand((80.0, 120.0), side="left", found_side="right" if wrong else None, found_side_score=0.6),
            ScriptedHand((240.0, 120.0), side="right"),
        ]

    predictor = ScriptedPredictor({i: hands(i) for i in range(8)})
    out = run(HandTracker(predictor, redetect_every=2, smoothing=None), 8)
    assert all([(p.track_id, p.hand_side) for p in found] == [(0, "left"), (1, "right")] for found in out)
    tracked_sides = [sides for _, boxes, sides in predictor.calls if boxes is not None]
    assert all(sides == ["left", "right"] for sides in tracked_sides)  # known sides are passed on


def test_two_tracks_on_one_hand_merge_into_the_older():
    script = {0: [ScriptedHand((100.0, 100.0)), ScriptedHand((130.0, 100.0))]}
    script.update({i: [ScriptedHand((100.0, 100.0))] for i in range(1, 4)})  # the hands came together
    predictor = ScriptedPredictor(script)
    out = run(HandTracker(predictor, redetect_every=None, smoothing=None), 4)
    assert ids(out[0]) == [0, 1]
    assert [ids(found) for found in out[1:]] == [[0]] * 3


def test_with_the_predictor_the_tracked_keypoints_are_exact():
    """The real Predictor behind the tracker, with the estimator that reads each crop's geometry
    off the image: crops from the last keypoints, with the side found first, map back to the truth."""
    rng = np.random.default_rng(4)
    truth = np.array([95.0, 80.0]) + rng.uniform(-25, 25, (NUM_JOINTS, 2)) + np.arange(6)[:, None, None] * [2.0, -1.0]
    predictor = Predictor(estimator=GeometryReadingEstimator(truth, padding=1.5), finder="whole_image")
    tracker = HandTracker(predictor, redetect_every=None, smoothing=None)
    out = [tracker(coordinate_image(i)) for i in range(6)]
    assert [ids(found) for found in out] == [[0]] * 6
    assert [found[0].finder for found in out] == ["whole_image"] + ["tracking"] * 5
    assert all(found[0].hand_side == "right" for found in out)
    # Within the fake's decoding accuracy on these small crops (the Predictor alone: 0.12 px).
    assert max(np.abs(found[0].keypoints - truth[i]).max() for i, found in enumerate(out)) < 0.25


def test_box_iou():
    box = np.array([0.0, 0.0, 10.0, 10.0])
    assert box_iou(box, box) == 1.0
    assert box_iou(box, box + [5.0, 0.0, 5.0, 0.0]) == pytest.approx(50.0 / 150.0)
    assert box_iou(box, box + 20.0) == 0.0 and box_iou(box, np.array([1.0, 1.0, 1.0, 5.0])) == 0.0


def test_bad_settings_are_refused():
    predictor = ScriptedPredictor({})
    with pytest.raises(ValueError, match="redetect_every"):
        HandTracker(predictor, redetect_every=0)
    with pytest.raises(ValueError, match="iou_threshold"):
        HandTracker(predictor, iou_threshold=0.0)
