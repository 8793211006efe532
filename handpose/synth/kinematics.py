"""Forward kinematics of the synthetic hand: joint angles to 21 joint positions and bone frames.

All five fingers share one chain structure so that they are solved together with batched numpy:
a 2-DoF base joint (finger MCP, or the thumb's CMC), then two hinge joints (PIP and DIP, or the
thumb's MCP and IP). The hand frame is the one of a *right* hand: origin at the wrist joint, x
towards the thumb side (radial), y from the wrist towards the middle finger (distal), z out of the
palm (palmar). Left hands are produced by mirroring x (:func:`mirror_x`), which makes the two sides
exact mirror images of each other.

Each bone carries an orthonormal frame whose columns are (lateral, along the bone, flexion
direction): flexion turns the bone towards its flexion direction (the palm, for a finger) about the
lateral axis, abduction turns it towards the lateral (radial) side about the flexion axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handpose.skeleton import NUM_JOINTS

#: Angle layout of one finger: base flexion, base abduction, middle flexion, end flexion (radians).
BASE_FLEX, BASE_ABD, MID_FLEX, END_FLEX = range(4)


def rotation_x(angle: np.ndarray) -> np.ndarray:
    """Rotations about the x axis, (...) angles in radians -> (..., 3, 3)."""
    angle = np.asarray(angle, dtype=float)
    c, s = np.cos(angle), np.sin(angle)
    r = np.zeros(angle.shape + (3, 3))
    r[..., 0, 0] = 1.0
    r[..., 1, 1] = r[..., 2, 2] = c
    r[..., 1, 2] = -s
    r[..., 2, 1] = s
    return r


def rotation_z(angle: np.ndarray) -> np.ndarray:
    """Rotations about the z axis, (...) angles in radians -> (..., 3, 3)."""
    angle = np.asarray(angle, dtype=float)
    c, s = np.cos(angle), np.sin(angle)
    r = np.zeros(angle.shape + (3, 3))
    r[..., 2, 2] = 1.0
    r[..., 0, 0] = r[..., 1, 1] = c
    r[..., 0, 1] = -s
    r[..., 1, 0] = s
    return r


def axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation matrix about a unit ``axis`` by ``angle`` radians (Rodrigues)."""
    x, y, z = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of (..., 3) arrays (np.cross is slow on small arrays)."""
    return np.stack([
        a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
        a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
        a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0],
    ], axis=-1)


def frame_from(along: np.ndarray, towards: np.ndarray) -> np.ndarray:
    """Right-handed frames (..., 3, 3) with columns (lateral, along, flexion): ``along`` exact, flexion near ``towards``."""
    u = along / np.linalg.norm(along, axis=-1, keepdims=True)
    f = towards - np.sum(towards * u, axis=-1, keepdims=True) * u
    f = f / np.linalg.norm(f, axis=-1, keepdims=True)
    return np.stack([cross(u, f), u, f], axis=-1)


def mirror_x(points: np.ndarray) -> np.ndarray:
    """Reflect points or directions (..., 3) through the hand's y-z plane: a right hand becomes a left."""
    return points * np.array([-1.0, 1.0, 1.0])


@dataclass
class FingerChains:
    """The fixed part of the five chains (thumb to pinky), in the right-hand frame, in mm."""

    bases: np.ndarray  # (5, 3) base joint positions: thumb CMC, then the four MCPs
    rest_frames: np.ndarray  # (5, 3, 3) bone frame of each first bone at zero angles (columns)
    lengths: np.ndarray  # (5, 3) bone lengths, the last one to the fingertip surface


@dataclass
class Articulation:
    """Posed skeleton in the right-hand frame."""

    joints: np.ndarray  # (21, 3) canonical joint order, mm
    bone_frames: np.ndarray  # (5, 3, 3, 3) finger, bone (base to tip), frame (columns lateral, along, flexion)


def forward_kinematics(chains: FingerChains, angles: np.ndarray) -> Articulation:
    """Pose the five chains with ``angles`` (5, 4) radians (see the layout constants)."""
    angles = np.asarray(angles, dtype=float)
    frame1 = chains.rest_frames @ rotation_z(-angles[:, BASE_ABD]) @ rotation_x(angles[:, BASE_FLEX])
    frame2 = frame1 @ rotation_x(angles[:, MID_FLEX])
    frame3 = frame2 @ rotation_x(angles[:, END_FLEX])
    frames = np.stack([frame1, frame2, frame3], axis=1)  # (5, 3, 3, 3)
    steps = frames[..., :, 1] * chains.lengths[..., None]  # (5, 3, 3) bone vectors
    finger_joints = np.concatenate([chains.bases[:, None], chains.bases[:, None] + np.cumsum(steps, axis=1)], axis=1)
    joints = np.concatenate([np.zeros((1, 3)), finger_joints.reshape(NUM_JOINTS - 1, 3)], axis=0)
    return Articulation(joints=joints, bone_frames=frames)
