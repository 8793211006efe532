"""Where a person's hands are, from the body: one square box per hand, with the hand's side.

**Input.** A COCO-style person record: ``keypoints`` COCO-17 (17 x [x, y, v]) or COCO-WholeBody's
133 (body 0-16, feet 17-22, face 23-90, left hand 91-111, right hand 112-132), flat or nested; the
third value is a label flag (annotations: 0 not labelled, 1, 2) or a score (results). A keypoint
counts where that value exceeds ``min_score``. Elbows are COCO-17 indices 7 (left) and 8 (right),
wrists 9 and 10, shoulders 5 and 6, hips 11 and 12.

**Sides.** COCO's ``left_wrist`` is the person's own left wrist. A body estimator (or annotator)
tells left from right by how the person looks in the very image it is given, so on an unmirrored
photo the person's left hand is also the hand that *appears* as a left hand: only a mirror changes
a hand's chirality; turning it, palm or back to the camera, never does. Each box's ``side`` is
therefore the body's side read as the side as the hand appears (``HandPrediction.hand_side``),
which is what the Predictor needs to mirror left hands for a right-hand network. That holds on a
mirrored image too (a selfie preview) as long as the body keypoints were found on that same image;
body keypoints of the unmirrored picture drawn on a mirrored copy would swap the sides.

**Where each box comes from** (``HandBox.finder``), first that applies per side:

1. ``hand_box``: the record's own ``lefthand_box`` / ``righthand_box`` ([x, y, w, h] with area),
   unless its ``lefthand_valid`` / ``righthand_valid`` is false;
2. ``hand_kpts``: the box around the record's hand keypoints (``lefthand_kpts`` /
   ``righthand_kpts``, or the hand part of 133 keypoints), same condition, where at least
   :data:`MIN_HAND_KEYPOINTS` of the 21 count;
3. ``forearm``: elbow and wrist: a square beyond the wrist along the forearm (:func:`forearm_box`);
4. ``wrist``: the wrist alone: a square around it, sized from the torso or the person's box
   (:func:`wrist_box`, :func:`hand_size_from_person`);
5. none: no box, and the hand is not estimated (a person without arm keypoints has no hands).

A hand detector, where one is given, moves ``forearm`` and ``wrist`` boxes onto the detected hand
that lies inside them (:func:`refine_with_detections`, finder ``detector``); the side stays the
arm's. Boxes the input gave are kept.

**Sizes**, measured on the COCO-WholeBody format sample (``../shared/data/coco_style_samples/
coco_wholebody``, 4 COCO val2017 images): over its 9 labelled hands whose elbow and wrist are
labelled, the centre of the labelled hand box lies 0.33 forearm lengths beyond the wrist along the
forearm (mean; median 0.37, range 0.10-0.54; sideways within 0.3 lengths) and the box's longer side
is 0.67 forearm lengths (mean; range 0.41-0.85). That is nearer the wrist than the 0.4-0.5
sometimes assumed; the spread comes mostly from foreshortening (a forearm turned towards the
camera is short in the image, its hand is not). Over its 10 labelled hands with a torso, the hand
box's side is 0.31 torso lengths (shoulder to hip, mean; range 0.18-0.41) and 0.09 of the longer
side of the person's box (range 0.06-0.12). Nine hands are few: the figures say where to look, and
the enlargement below covers their spread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from handpose.data.readers.common import keypoint_triplets, xywh_box
from handpose.skeleton import NUM_JOINTS
from handpose.structures import HandSide

#: Body keypoint counts understood: COCO-17 and COCO-WholeBody's 133 (whose first 17 are COCO-17).
BODY_JOINTS, WHOLEBODY_JOINTS = 17, 133
#: COCO-17 indices of each side's elbow and wrist, and of the torso's shoulder-hip pairs.
ARM_JOINTS: dict[HandSide, tuple[int, int]] = {"left": (7, 9), "right": (8, 10)}
TORSO_SIDES: tuple[tuple[int, int], ...] = ((5, 11), (6, 12))
#: Where each hand lies among COCO-WholeBody's 133 keypoints.
WHOLEBODY_HANDS: dict[HandSide, slice] = {"left": slice(91, 112), "right": slice(112, 133)}
SIDES: tuple[HandSide, ...] = ("left", "right")

#: Measured on the COCO-WholeBody sample (module docstring): the hand box's centre beyond the
#: wrist and its side, in forearm lengths; its side in torso lengths and in person-box sides.
HAND_CENTRE_BEYOND_WRIST = 0.33
HAND_SIDE_PER_FOREARM = 0.67
HAND_SIDE_PER_TORSO = 0.31
HAND_SIDE_PER_PERSON = 0.09

#: The forearm box is this much larger than the expected hand box. The Predictor crops 1.5x a
#: box's side, as in training, whose scale augmentation goes up to 1.25x larger crops: so the hand
#: still appears at a size the network was trained on, while the crop reaches 0.96 forearm lengths
#: beyond the wrist and 0.63 sideways, about as far as the sample's farthest hand edge (0.97).
ENLARGE = 1.25
#: The wrist-only box is this many expected hand sides wide, centred on the wrist: the direction
#: of the hand is unknown and its fingertips reach about one hand side from the wrist every way.
WRIST_ONLY_SPREAD = 2.0

#: A keypoint counts where its flag or score exceeds this (annotation flags 1 and 2 pass).
MIN_SCORE = 0.3
#: Given hand keypoints define the box only where more than half the hand counts: a box around a
#: few joints covers part of the hand and would crop the rest away.
MIN_HAND_KEYPOINTS = 11
#: A forearm shorter than this (pixels) gives no direction: the wrist-only box is used.
MIN_FOREARM_PX = 2.0
#: A detection refines a body box when at least this fraction of the detected box lies inside it.
MIN_DETECTION_COVER = 0.5

#: What a hand detector returns for an image: (x0, y0, x1, y1 box, side or None, score) per hand.
Detection = tuple[Sequence[float], HandSide | None, float]
Detector = Callable[[np.ndarray], Sequence[Detection]]


def load_detector(choice: str = "auto", device: str = "cpu") -> Detector | None:
    """The hand detector that refines the boxes from the body: ``auto``, the bundled ``detector``
    weights where they are there (else none); ``none``; or a weights name or file of the hand
    detector or HandSegNet (anything whose estimator finds hands with ``detect(images)``)."""
    from handpose.inference.predictor import FINDER_WEIGHTS, load_hand_finder
    from handpose.inference.weights import resolve_weights

    bundled = FINDER_WEIGHTS["detector"]
    if choice == "none" or (choice == "auto" and not resolve_weights(bundled).is_file()):
        return None
    estimator = load_hand_finder(bundled if choice == "auto" else choice, device)
    return lambda image: [(hand.box, hand.side, hand.score) for hand in estimator.detect([image])[0]]


@dataclass(frozen=True)
class HandBox:
    """One hand's box (x0, y0, x1, y1 image pixels), the side it appears as, and where it came
    from: "hand_box", "hand_kpts", "forearm", "wrist" or "detector" (module docstring)."""

    side: HandSide
    box: tuple[float, float, float, float]
    finder: str


def body_keypoints(record: Mapping[str, Any]) -> np.ndarray:
    """The record's ``keypoints`` as (17, 3) or (133, 3); ValueError naming the problem otherwise."""
    if "keypoints" not in record:
        raise ValueError("no 'keypoints' (COCO-17 or COCO-WholeBody body keypoints)")
    try:
        array = np.asarray(record["keypoints"], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("'keypoints' is not an array of numbers") from None
    count = array.size // 3
    flat_or_nested = array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 3)
    if not flat_or_nested or array.size % 3 or count not in (BODY_JOINTS, WHOLEBODY_JOINTS):
        raise ValueError(
            f"'keypoints' has shape {array.shape}; expected COCO-17's or COCO-WholeBody's 133 "
            f"x [x, y, v], flat or nested"
        )
    return array.reshape(count, 3)


def forearm_box(elbow: Sequence[float], wrist: Sequence[float]) -> np.ndarray:
    """The square x0, y0, x1, y1 box of a hand from its forearm: centred
    :data:`HAND_CENTRE_BEYOND_WRIST` forearm lengths beyond the wrist, along the forearm, with side
    :data:`ENLARGE` x :data:`HAND_SIDE_PER_FOREARM` forearm lengths."""
    elbow_xy, wrist_xy = np.asarray(elbow, dtype=np.float64)[:2], np.asarray(wrist, dtype=np.float64)[:2]
    forearm = wrist_xy - elbow_xy
    centre = wrist_xy + HAND_CENTRE_BEYOND_WRIST * forearm
    half = 0.5 * ENLARGE * HAND_SIDE_PER_FOREARM * float(np.linalg.norm(forearm))
    return np.concatenate([centre - half, centre + half])


def wrist_box(wrist: Sequence[float], hand_size: float) -> np.ndarray:
    """The square x0, y0, x1, y1 box around a wrist whose forearm is unknown:
    :data:`WRIST_ONLY_SPREAD` times the expected hand side ``hand_size`` (pixels)."""
    half = 0.5 * WRIST_ONLY_SPREAD * float(hand_size)
    wrist_xy = np.asarray(wrist, dtype=np.float64)[:2]
    return np.concatenate([wrist_xy - half, wrist_xy + half])


def hand_size_from_person(body: np.ndarray, record: Mapping[str, Any], min_score: float = MIN_SCORE) -> float | None:
    """The expected side of a hand box (pixels) from the person's size: the torso (mean
    shoulder-hip length of the sides that have both), else the longer side of the record's
    ``bbox``, else of the box around its counted body keypoints; None where none exists."""
    counted = _counted(body, min_score)
    torso = [np.linalg.norm(body[s, :2] - body[h, :2]) for s, h in TORSO_SIDES if counted[s] and counted[h]]
    if torso and np.mean(torso) > 0:
        return HAND_SIDE_PER_TORSO * float(np.mean(torso))
    person = xywh_box(record.get("bbox"))
    if person is None and counted[:BODY_JOINTS].sum() >= 2:
        points = body[:BODY_JOINTS][counted[:BODY_JOINTS], :2]
        person = np.concatenate([points.min(axis=0), points.max(axis=0)])
    if person is None:
        return None
    longer = float(np.max(person[2:] - person[:2]))
    return HAND_SIDE_PER_PERSON * longer if longer > 0 else None


def hand_boxes(record: Mapping[str, Any], min_score: float = MIN_SCORE) -> list[HandBox]:
    """The record's hand boxes, left before right, each from the first source that applies
    (module docstring); none for a side with nothing to go on. ValueError for a malformed record."""
    body = body_keypoints(record)
    counted = _counted(body, min_score)
    found = []
    for side in SIDES:
        given = _given_hand_box(record, body, side, min_score)
        if given is not None:
            found.append(HandBox(side, *given))
            continue
        elbow, wrist = ARM_JOINTS[side]
        if not counted[wrist]:
            continue
        if counted[elbow] and np.linalg.norm(body[wrist, :2] - body[elbow, :2]) >= MIN_FOREARM_PX:
            found.append(HandBox(side, _tuple(forearm_box(body[elbow], body[wrist])), "forearm"))
            continue
        hand_size = hand_size_from_person(body, record, min_score)
        if hand_size is not None:
            found.append(HandBox(side, _tuple(wrist_box(body[wrist], hand_size)), "wrist"))
    return found


def _given_hand_box(
    record: Mapping[str, Any], body: np.ndarray, side: HandSide, min_score: float
) -> tuple[tuple[float, float, float, float], str] | None:
    """The box the record itself gives for a hand (its hand box, else its hand keypoints' box)."""
    if record.get(f"{side}hand_valid") is False:
        return None
    box = xywh_box(record.get(f"{side}hand_box"))
    if box is not None:
        return _tuple(box), "hand_box"
    if f"{side}hand_kpts" in record:
        hand = keypoint_triplets(record[f"{side}hand_kpts"], NUM_JOINTS, what=f"{side}hand_kpts")
    elif len(body) == WHOLEBODY_JOINTS:
        hand = body[WHOLEBODY_HANDS[side]]
    else:
        return None
    points = hand[_counted(hand, min_score), :2]
    if len(points) < MIN_HAND_KEYPOINTS:
        return None
    low, high = points.min(axis=0), points.max(axis=0)
    if not np.all(high > low):
        return None
    return _tuple(np.concatenate([low, high])), "hand_kpts"


def refine_with_detections(boxes: Sequence[HandBox], detections: Sequence[Detection]) -> list[HandBox]:
    """``boxes`` with each body-derived one (finder "forearm" or "wrist") replaced by the detected
    hand box that lies inside it (at least :data:`MIN_DETECTION_COVER` of the detection's area),
    finder "detector". Best-scored detections are assigned first, each to one hand at most, so
    two people's hands side by side do not share one detection. The side stays the arm's: the
    detector's own side guess is ignored. Given boxes ("hand_box", "hand_kpts") are kept."""
    refined = list(boxes)
    candidates = []
    for j, (detected, _side, score) in enumerate(detections):
        d = np.asarray(detected, dtype=np.float64)
        area = float(np.prod(d[2:] - d[:2]))
        if not (area > 0 and np.all(np.isfinite(d))):
            continue
        for i, hand in enumerate(boxes):
            if hand.finder not in ("forearm", "wrist"):
                continue
            b = np.asarray(hand.box)
            inside = np.clip(np.minimum(b[2:], d[2:]) - np.maximum(b[:2], d[:2]), 0.0, None).prod() / area
            if inside >= MIN_DETECTION_COVER:
                candidates.append((-float(score), -inside, i, j))
    used_hands: set[int] = set()
    used_detections: set[int] = set()
    for _, _, i, j in sorted(candidates):
        if i in used_hands or j in used_detections:
            continue
        used_hands.add(i)
        used_detections.add(j)
        refined[i] = replace(boxes[i], box=_tuple(np.asarray(detections[j][0], dtype=np.float64)), finder="detector")
    return refined


def _counted(triplets: np.ndarray, min_score: float) -> np.ndarray:
    """Which (x, y, v) triplets count: v above ``min_score`` and finite coordinates."""
    return (triplets[:, 2] > min_score) & np.isfinite(triplets[:, :2]).all(axis=1)


def _tuple(box: np.ndarray) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return x0, y0, x1, y1
