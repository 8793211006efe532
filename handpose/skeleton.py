"""The canonical 21-joint hand skeleton that every part of handpose speaks.

The order is the one of FreiHAND, MediaPipe and COCO-WholeBody: the wrist, then each finger from
thumb to pinky, each from its base to its tip. Datasets with other orders are converted on reading
(see :mod:`handpose.joint_orders`).
"""

from __future__ import annotations

import numpy as np

NUM_JOINTS = 21

FINGER_NAMES: tuple[str, ...] = ("thumb", "index", "middle", "ring", "pinky")

_THUMB_JOINTS = ("cmc", "mcp", "ip", "tip")
_FINGER_JOINTS = ("mcp", "pip", "dip", "tip")

JOINT_NAMES: tuple[str, ...] = ("wrist",) + tuple(
    f"{finger}_{joint}"
    for finger in FINGER_NAMES
    for joint in (_THUMB_JOINTS if finger == "thumb" else _FINGER_JOINTS)
)

WRIST = 0
ROOT = WRIST

#: Joint indices of each finger, base to tip.
FINGERS: dict[str, tuple[int, int, int, int]] = {
    name: tuple(range(1 + 4 * i, 5 + 4 * i)) for i, name in enumerate(FINGER_NAMES)  # type: ignore[misc]
}

#: Parent of each joint (-1 for the wrist): every finger base hangs from the wrist.
PARENTS: tuple[int, ...] = (-1,) + tuple(
    WRIST if j == finger[0] else j - 1 for finger in FINGERS.values() for j in finger
)

#: The 20 bones as (parent, child) pairs, in child order.
BONES: tuple[tuple[int, int], ...] = tuple((PARENTS[j], j) for j in range(1, NUM_JOINTS))

#: Finger index (0 thumb .. 4 pinky) of each joint; -1 for the wrist.
FINGER_OF_JOINT: tuple[int, ...] = (-1,) + tuple(i for i in range(5) for _ in range(4))

#: Tips and finger bases, often needed by metrics and hand models.
TIPS: tuple[int, ...] = tuple(f[-1] for f in FINGERS.values())
MCPS: tuple[int, ...] = tuple(FINGERS[name][0] for name in FINGER_NAMES[1:])

#: One hue per finger (RGB, 0-255), the wrist in white; joints darken towards the tip.
FINGER_COLORS: dict[str, tuple[int, int, int]] = {
    "thumb": (230, 60, 60),
    "index": (240, 170, 40),
    "middle": (70, 200, 80),
    "ring": (50, 150, 240),
    "pinky": (190, 80, 220),
}


def _joint_color(j: int) -> tuple[int, int, int]:
    if j == WRIST:
        return (255, 255, 255)
    finger = FINGER_NAMES[FINGER_OF_JOINT[j]]
    level = (j - 1) % 4  # 0 at the base, 3 at the tip
    shade = 1.0 - 0.15 * level
    return tuple(int(round(c * shade)) for c in FINGER_COLORS[finger])  # type: ignore[return-value]


#: Drawing colour of each joint (RGB) and of each bone (the colour of its child joint).
JOINT_COLORS: tuple[tuple[int, int, int], ...] = tuple(_joint_color(j) for j in range(NUM_JOINTS))
BONE_COLORS: tuple[tuple[int, int, int], ...] = tuple(JOINT_COLORS[c] for _, c in BONES)


def bone_vectors(keypoints: np.ndarray) -> np.ndarray:
    """Child minus parent for the 20 bones; works on (..., 21, D) arrays."""
    keypoints = np.asarray(keypoints)
    parents = np.array([p for p, _ in BONES])
    children = np.array([c for _, c in BONES])
    return keypoints[..., children, :] - keypoints[..., parents, :]


def bone_lengths(keypoints: np.ndarray) -> np.ndarray:
    """Length of each of the 20 bones; (..., 21, D) -> (..., 20)."""
    return np.linalg.norm(bone_vectors(keypoints), axis=-1)
