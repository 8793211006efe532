"""Joint orders of the public hand datasets, and conversions to and from the canonical order.

Every dataset lists the same 21 hand joints, but in its own order. Each order here is written
down as the canonical joint name (:data:`handpose.skeleton.JOINT_NAMES`) of every native joint,
so that the permutations are derived from names rather than typed in as numbers:

- ``rhd`` (42 joints): left hand (0-20) then right hand (21-41); in each hand the wrist, then
  thumb, index, middle, ring, pinky, each finger from its tip to the palm. ``rhd_hand`` is one
  such hand alone (MMPose's COCO-style conversion of RHD keeps this order).
- ``stb`` (21 joints): the palm centre, then pinky, ring, middle, index, thumb, each from its
  base to its tip. STB labels no wrist: its palm centre takes the wrist's place (index 0).
- ``interhand`` (42 joints): right hand (0-20) then left hand (21-41); in each hand thumb, index,
  middle, ring, pinky, each from its tip to its base, and the wrist last. ``interhand_hand`` is
  one such hand alone.
- ``canonical``, ``freihand``, ``coco_wholebody``, ``panoptic``, ``onehand10k``, ``mediapipe``:
  the canonical order already.

Inside a finger the four joints are matched by position from the palm outwards: a dataset's
"thumb mcp, pip, dip, tip" are the canonical thumb CMC, MCP, IP and tip.

Two-hand orders convert to a fixed two-hand layout: the left hand's 21 canonical joints, then the
right hand's (:data:`TWO_HAND_SIDES`), whatever the dataset's own hand order.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from handpose.skeleton import FINGER_NAMES, JOINT_NAMES, NUM_JOINTS

#: Hand order of the canonical two-hand layout (42 joints).
TWO_HAND_SIDES: tuple[str, str] = ("left", "right")

#: What STB labels in the wrist's place (see :attr:`JointOrder.root_joint`).
PALM_CENTER = "palm_center"


@dataclass(frozen=True)
class JointOrder:
    """A dataset's joint order: the canonical name of each native joint."""

    name: str
    native_names: tuple[str, ...]  # canonical joint name of each native joint, side-prefixed for two hands
    hand_sides: tuple[str, ...]  # native hand blocks in order; () for a one-hand order
    root_joint: str = JOINT_NAMES[0]  # what the joint in the wrist's slot really is (STB: the palm centre)

    @property
    def num_joints(self) -> int:
        return len(self.native_names)

    @property
    def canonical_names(self) -> tuple[str, ...]:
        """Names of the canonical layout this order converts to (21, or 42 left then right)."""
        if not self.hand_sides:
            return JOINT_NAMES
        return tuple(f"{side}_{name}" for side in TWO_HAND_SIDES for name in JOINT_NAMES)

    @cached_property
    def permutation(self) -> np.ndarray:
        """Native index of each canonical joint: ``canonical = native[..., permutation, :]``."""
        position = {name: i for i, name in enumerate(self.native_names)}
        return np.array([position[name] for name in self.canonical_names])


def _one_hand(root_first: bool, fingers: tuple[str, ...], tip_first: bool) -> list[str]:
    """Canonical names of one hand's joints in a dataset's order."""
    names = []
    for finger in fingers:
        joints = [name for name in JOINT_NAMES if name.startswith(f"{finger}_")]
        names += joints[::-1] if tip_first else joints
    return [JOINT_NAMES[0]] + names if root_first else names + [JOINT_NAMES[0]]


def _two_hands(sides: tuple[str, str], hand: list[str]) -> tuple[str, ...]:
    return tuple(f"{side}_{name}" for side in sides for name in hand)


_CANONICAL = tuple(JOINT_NAMES)
_RHD_HAND = _one_hand(root_first=True, fingers=FINGER_NAMES, tip_first=True)
_INTERHAND_HAND = _one_hand(root_first=False, fingers=FINGER_NAMES, tip_first=True)
_STB = _one_hand(root_first=True, fingers=FINGER_NAMES[::-1], tip_first=False)

ORDERS: dict[str, JointOrder] = {
    order.name: order
    for order in (
        *(JointOrder(name, _CANONICAL, ()) for name in ("canonical", "freihand", "coco_wholebody", "panoptic", "onehand10k", "mediapipe")),
        JointOrder("rhd", _two_hands(("left", "right"), _RHD_HAND), ("left", "right")),
        JointOrder("rhd_hand", tuple(_RHD_HAND), ()),
        JointOrder("stb", tuple(_STB), (), root_joint=PALM_CENTER),
        JointOrder("interhand", _two_hands(("right", "left"), _INTERHAND_HAND), ("right", "left")),
        JointOrder("interhand_hand", tuple(_INTERHAND_HAND), ()),
    )
}


def get_order(order: str) -> JointOrder:
    """The named joint order; an unknown name raises ValueError listing the known ones."""
    try:
        return ORDERS[order]
    except KeyError:
        raise ValueError(f"unknown joint order {order!r}; known: {', '.join(sorted(ORDERS))}") from None


def _check_joint_axis(array: np.ndarray, expected: int, what: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim < 2 or array.shape[-2] != expected:
        raise ValueError(f"{what} has shape {array.shape}, expected (..., {expected}, D)")
    return array


def to_canonical(native: np.ndarray, order: str) -> np.ndarray:
    """Reorder (..., J, D) joints from ``order`` to the canonical order (21, or 42 left then right)."""
    joint_order = get_order(order)
    native = _check_joint_axis(native, joint_order.num_joints, f"{order} joints")
    return native[..., joint_order.permutation, :]


def from_canonical(canonical: np.ndarray, order: str) -> np.ndarray:
    """Reorder canonical (..., 21 or 42, D) joints into ``order``; the inverse of :func:`to_canonical`."""
    joint_order = get_order(order)
    canonical = _check_joint_axis(canonical, joint_order.num_joints, f"canonical joints for {order}")
    return canonical[..., np.argsort(joint_order.permutation), :]


def hand_joints(native: np.ndarray, order: str, side: str) -> np.ndarray:
    """One hand's (..., 21, D) canonical joints out of a two-hand (..., 42, D) native array."""
    joint_order = get_order(order)
    if side not in joint_order.hand_sides:
        raise ValueError(f"joint order {order!r} has hands {joint_order.hand_sides}, not {side!r}")
    start = TWO_HAND_SIDES.index(side) * NUM_JOINTS
    return to_canonical(native, order)[..., start : start + NUM_JOINTS, :]
