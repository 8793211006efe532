"""Predictions as COCO keypoint results, the format MMPose and COCO's tools read and write.

A results file is a JSON list with one entry per predicted hand::

    {"image_id": 7, "category_id": 1, "keypoints": [x, y, score, ...] (21 triplets),
     "score": 0.93, "sample_id": "frame_0007.jpg#12"}

in original image pixels. ``image_id`` is the COCO image id where the sample came from a COCO
file (the reader keeps it in ``extras["image_id"]``), else the sample id. ``sample_id`` is
handpose's own addition (COCO's tools ignore it): it tells hands of one image apart when results
are matched back to samples. Results from elsewhere (e.g. MediaPipe run on the same images)
need only ``image_id`` and ``keypoints``; samples without a result become missing predictions.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from handpose.image_io import write_bytes_atomic
from handpose.skeleton import NUM_JOINTS
from handpose.structures import HandSample

#: COCO category of the hands (the readers keep no category: every annotation is a hand).
HAND_CATEGORY_ID = 1


def coco_image_id(sample: HandSample) -> Any:
    """The id of the sample's image in its COCO file, else its sample id."""
    return sample.extras.get("image_id", sample.sample_id)


def coco_results(samples: Sequence[HandSample], keypoints: np.ndarray, scores: np.ndarray) -> list[dict]:
    """One result per sample with a prediction; hands whose keypoints are all missing are left out.

    A joint without a prediction (non-finite coordinates) is written as 0, 0 with score 0.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if keypoints.shape != (len(samples), NUM_JOINTS, 2) or scores.shape != (len(samples), NUM_JOINTS):
        raise ValueError(
            f"expected keypoints ({len(samples)}, {NUM_JOINTS}, 2) and scores ({len(samples)}, {NUM_JOINTS}), "
            f"got {keypoints.shape} and {scores.shape}"
        )
    results = []
    for sample, points, point_scores in zip(samples, keypoints, scores):
        predicted = np.isfinite(points).all(axis=1)
        if not predicted.any():
            continue
        xy = np.where(predicted[:, None], points, 0.0)
        confidence = np.where(predicted, np.nan_to_num(point_scores), 0.0)
        results.append(
            {
                "image_id": coco_image_id(sample),
                "category_id": HAND_CATEGORY_ID,
                "keypoints": [
                    value
                    for (x, y), c in zip(xy, confidence)
                    for value in (round(float(x), 3), round(float(y), 3), _short(c))
                ],
                "score": _short(confidence[predicted].mean()),
                "sample_id": sample.sample_id,
            }
        )
    return results


def _short(value: float) -> float:
    """Four significant digits: scores of an untrained model are tiny but still rank joints."""
    return float(f"{float(value):.4g}")


def write_coco_results(path: str | Path, results: list[dict]) -> Path:
    """Write results as JSON, atomically (a reader never sees half a file)."""
    write_bytes_atomic(path, json.dumps(results).encode("utf-8"))
    return Path(path)


def read_coco_results(path: str | Path) -> list[dict]:
    """Read and check a COCO keypoint results file; problems raise ValueError naming the file and entry."""
    path = Path(path)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: predictions file is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(results, list):
        raise ValueError(f"{path}: COCO results are a JSON list of predictions, got {type(results).__name__}")
    for index, result in enumerate(results):
        if not isinstance(result, dict) or "image_id" not in result:
            raise ValueError(f"{path}: prediction {index} is not an object with an 'image_id'")
        values = np.asarray(result.get("keypoints"), dtype=object)
        if values.shape != (3 * NUM_JOINTS,) or not all(isinstance(v, (int, float)) for v in values):
            raise ValueError(
                f"{path}: prediction {index} (image {result['image_id']!r}): 'keypoints' must be "
                f"{3 * NUM_JOINTS} numbers, [x, y, score] for each of {NUM_JOINTS} joints"
            )
    return results


def match_results(results: list[dict], samples: Sequence[HandSample]) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (N, 21, 2) and scores (N, 21) of each sample from results; NaN where missing.

    A result is matched by ``sample_id`` when it has one, else by ``image_id``; where an image
    holds several hands, each takes the unclaimed result whose keypoints' centre lies nearest its
    box centre. Joints with score 0 at (0, 0) are read as not predicted, as written by
    :func:`coco_results`.
    """
    by_sample = {r["sample_id"]: r for r in results if "sample_id" in r}
    by_image: dict[Any, list[dict]] = defaultdict(list)
    for result in results:
        if "sample_id" not in result:
            by_image[result["image_id"]].append(result)
    keypoints = np.full((len(samples), NUM_JOINTS, 2), np.nan)
    scores = np.zeros((len(samples), NUM_JOINTS))
    for i, sample in enumerate(samples):
        result = by_sample.get(sample.sample_id) or _nearest(by_image[coco_image_id(sample)], sample)
        if result is None:
            continue
        triplets = np.asarray(result["keypoints"], dtype=np.float64).reshape(NUM_JOINTS, 3)
        absent = (triplets[:, 2] == 0) & (triplets[:, 0] == 0) & (triplets[:, 1] == 0)
        keypoints[i] = np.where(absent[:, None], np.nan, triplets[:, :2])
        scores[i] = triplets[:, 2]
    return keypoints, scores


def _nearest(candidates: list[dict], sample: HandSample) -> dict | None:
    """Remove and return the candidate whose keypoints' centre is nearest the sample's box centre."""
    if not candidates:
        return None
    x0, y0, x1, y1 = np.asarray(sample.box, dtype=np.float64)
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    distances = [
        np.linalg.norm(np.asarray(c["keypoints"], dtype=np.float64).reshape(NUM_JOINTS, 3)[:, :2].mean(axis=0) - centre)
        for c in candidates
    ]
    return candidates.pop(int(np.argmin(distances)))
