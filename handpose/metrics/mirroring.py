"""Mirrored hands: predictions whose thumb and little-finger sides are swapped.

A hand's 2D keypoints have a handedness of their own in the image: going from the wrist, the
index knuckle lies on one side of the little-finger knuckle or on the other, depending on the
hand's side and on whether its palm or its back faces the camera. A network that reads a palm as
the back of a hand (or the reverse) puts the thumb where the little finger is: every finger is
then off by a hand's width, a failure that mean errors hide among many small ones and that this
count names. Hands seen nearly edge-on, whose labelled knuckles do not say which way the palm
faces, are left out.
"""

from __future__ import annotations

import numpy as np

from handpose.skeleton import JOINT_NAMES, ROOT

INDEX_MCP = JOINT_NAMES.index("index_mcp")
PINKY_MCP = JOINT_NAMES.index("pinky_mcp")
#: Hands count only where the sine of the angle between the two knuckle directions, seen from the
#: wrist, is at least this (about 14 degrees): below it the palm is seen edge-on.
MIN_FACING_SINE = 0.25


def palm_turn(keypoints: np.ndarray) -> np.ndarray:
    """(N,) sine of the angle from wrist->index knuckle to wrist->little-finger knuckle in the
    image (N, 21, 2): its sign is the hand's handedness in the image; NaN where undefined."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    index = keypoints[:, INDEX_MCP] - keypoints[:, ROOT]
    pinky = keypoints[:, PINKY_MCP] - keypoints[:, ROOT]
    cross = index[:, 0] * pinky[:, 1] - index[:, 1] * pinky[:, 0]
    lengths = np.linalg.norm(index, axis=-1) * np.linalg.norm(pinky, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(lengths > 0, cross / lengths, np.nan)


def mirrored_hands(pred: np.ndarray, gt: np.ndarray, labelled: np.ndarray) -> dict:
    """How many predicted hands (N, 21, 2) have the opposite handedness in the image to their
    ground truth: ``counted`` (hands with the wrist and both knuckles labelled and predicted,
    not edge-on), ``mirrored`` and their ``fraction`` (None when nothing counts)."""
    needed = [ROOT, INDEX_MCP, PINKY_MCP]
    truth, predicted = palm_turn(gt), palm_turn(pred)
    counted = (
        np.asarray(labelled)[:, needed].all(axis=1)
        & np.isfinite(np.asarray(pred, dtype=np.float64)[:, needed]).all(axis=(1, 2))
        & (np.abs(np.nan_to_num(truth)) >= MIN_FACING_SINE)
        & np.isfinite(predicted)
    )
    mirrored = counted & (np.sign(truth) != np.sign(predicted))
    total = int(counted.sum())
    return {
        "counted": total,
        "mirrored": int(mirrored.sum()),
        "fraction": float(mirrored.sum() / total) if total else None,
        "min_facing_sine": MIN_FACING_SINE,
    }
