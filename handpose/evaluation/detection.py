"""Scoring a hand detector on a set of whole images.

Figures of :func:`evaluate_detector`:

- ``ap50`` and ``ap50_95``: COCO box AP at IoU 0.5 and averaged over IoU 0.5:0.05:0.95, by
  pycocotools (:func:`coco_box_ap`), from every detection of at least the detector's
  ``boxes.min_score`` (up to ``boxes.max_detections`` per image); sides play no part;
- at the operating threshold ``boxes.score_threshold`` (what
  :meth:`~handpose.estimators.hand_detector.HandDetector.detect` reports by default):
  ``recall50`` (the share of hands found at IoU 0.5, each by one detection, best score first),
  ``false_positives_per_image`` (detections that found no hand, over all images),
  ``side_accuracy`` (of the hands found whose side is known, the share given the right side) and
  ``images_with_a_hand_found`` (of ``images_with_hands``, those where at least one hand was
  found: the "finds a hand in N of M frames" of issue 11).

True boxes are the annotations' (for the synthetic sets: keypoints and hand pixels, clipped to
the image) or, with ``gt_boxes="keypoints"``, those of the labelled keypoints clipped to the
image (for the real frames, whose annotated boxes come from elsewhere). Images without hands
count: a COCO set is read with the reader's ``empty_images`` option, so their detections are
false positives.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from handpose.data.detection_pipeline import ImageHands, group_by_image
from handpose.data.spec import DataSpec, parse_data_spec
from handpose.estimators.hand_detector import MATCH_IOU, HandBox, HandDetector, match_detections
from handpose.structures import HandSide, keypoint_box


def evaluate_detector(
    estimator: HandDetector,
    data_spec: str | DataSpec,
    gt_boxes: Literal["annotation", "keypoints"] = "annotation",
    batch_size: int = 16,
) -> dict[str, float | int]:
    """Run ``estimator`` on every image of ``data_spec`` (``FMT:PATH?options``) and score it
    (see the module docstring)."""
    if gt_boxes not in ("annotation", "keypoints"):
        raise ValueError(f"gt_boxes must be 'annotation' or 'keypoints', got {gt_boxes!r}")
    spec = parse_data_spec(data_spec) if isinstance(data_spec, str) else data_spec
    if spec.fmt == "coco":
        spec = replace(spec, options={**spec.options, "empty_images": "true"})
    images = group_by_image(spec.read().samples)
    if not images:
        raise ValueError(f"{spec}: no images to evaluate")
    truth: list[np.ndarray] = []
    detections: list[list[HandBox]] = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        pixels = [entry.sample.load_image() for entry in chunk]
        detections += estimator.detect(pixels, min_score=estimator.boxes["min_score"], batch_size=batch_size)
        truth += [_true_boxes(entry, image.shape[1], image.shape[0], gt_boxes) for entry, image in zip(chunk, pixels)]
    ap50, ap50_95 = coco_box_ap(truth, detections)
    threshold = float(estimator.boxes["score_threshold"])
    return {
        "images": len(images),
        "hands": int(sum(len(boxes) for boxes in truth)),
        "ap50": ap50,
        "ap50_95": ap50_95,
        "score_threshold": threshold,
        **operating_point(truth, [entry.sides for entry in images], detections, threshold),
    }


def _true_boxes(entry: ImageHands, width: int, height: int, source: str) -> np.ndarray:
    if source == "annotation":
        return entry.boxes
    boxes = np.array([keypoint_box(hand.keypoints_2d, hand.visibility) for hand in entry.hands]).reshape(-1, 4)
    return np.clip(boxes, 0.0, [width - 1, height - 1, width - 1, height - 1])


def coco_box_ap(truth: Sequence[np.ndarray], detections: Sequence[Sequence[HandBox]]) -> tuple[float, float]:
    """COCO box AP at IoU 0.5 and at 0.5:0.95 (pycocotools, up to 100 detections per image) of
    ``detections`` against the true boxes (N_i, 4) x0, y0, x1, y1 of each image; NaN without hands."""
    if not any(len(boxes) for boxes in truth):
        return float("nan"), float("nan")
    hands = [(i, box) for i, boxes in enumerate(truth) for box in boxes]
    annotations = [
        # Ids from 1: pycocotools reads id 0 as "no match".
        {"id": k + 1, "image_id": i, "category_id": 1, "iscrowd": 0, "bbox": _xywh(box),
         "area": float((box[2] - box[0]) * (box[3] - box[1]))}
        for k, (i, box) in enumerate(hands)
    ]
    results = [
        {"image_id": i, "category_id": 1, "bbox": _xywh(hand.box), "score": hand.score}
        for i, found in enumerate(detections) for hand in found
    ]
    if not results:
        return 0.0, 0.0
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools reports on stdout
        ground = COCO()
        ground.dataset = {"images": [{"id": i} for i in range(len(truth))], "annotations": annotations,
                          "categories": [{"id": 1, "name": "hand"}]}
        ground.createIndex()
        evaluation = COCOeval(ground, ground.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    ap50_95, ap50 = evaluation.stats[:2]
    return float(ap50), float(ap50_95)


def operating_point(
    truth: Sequence[np.ndarray],
    sides: Sequence[Sequence[HandSide | None]],
    detections: Sequence[Sequence[HandBox]],
    threshold: float,
) -> dict[str, float | int]:
    """Recall at IoU 0.5, false positives per image, side accuracy and images with a hand found,
    counting the detections of at least ``threshold`` (see the module docstring)."""
    found = false_positives = right_sides = named = images_found = 0
    for boxes, image_sides, image_detections in zip(truth, sides, detections):
        kept = [hand for hand in image_detections if hand.score >= threshold]
        matched = match_detections(np.array([hand.box for hand in kept]).reshape(-1, 4), boxes, MATCH_IOU)
        found += int(np.sum(matched >= 0))
        false_positives += int(np.sum(matched < 0))
        images_found += int(np.any(matched >= 0))
        for hand, index in zip(kept, matched):
            if index >= 0 and image_sides[index] is not None:
                named += 1
                right_sides += int(hand.side == image_sides[index])
    hands = sum(len(boxes) for boxes in truth)
    return {
        "recall50": found / hands if hands else float("nan"),
        "false_positives_per_image": false_positives / len(truth),
        "side_accuracy": right_sides / named if named else float("nan"),
        "images_with_hands": sum(1 for boxes in truth if len(boxes)),
        "images_with_a_hand_found": images_found,
    }


def _xywh(box: np.ndarray) -> list[float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return [x0, y0, x1 - x0, y1 - y0]
