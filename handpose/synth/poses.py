"""Hand poses: anatomical joint limits, a library of common gestures, and sampling between them.

A pose is the (5, 4) angle array of :mod:`handpose.synth.kinematics` (thumb to pinky; base
flexion, base abduction, middle flexion, end flexion) plus the wrist's flexion and deviation.
Sampled poses stay inside the limits, keep the natural coupling of the distal joints
(DIP about 2/3 of PIP), close the thumb-to-index contact of pinch and OK with a small inverse
kinematics, and are rejected when fingers pass through each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handpose.synth.hand_shape import TIP_INSET, HandShape
from handpose.synth.kinematics import BASE_ABD, BASE_FLEX, END_FLEX, MID_FLEX, axis_angle, forward_kinematics

#: Joint limits in degrees, rows thumb..pinky, columns as the angle layout.
LOWER_DEG = np.array(
    [[-20.0, -15.0, -10.0, -20.0], [-25.0, -15.0, -5.0, -5.0], [-25.0, -15.0, -5.0, -5.0],
     [-25.0, -20.0, -5.0, -5.0], [-25.0, -35.0, -5.0, -5.0]]
)
UPPER_DEG = np.array(
    [[55.0, 45.0, 65.0, 85.0], [90.0, 25.0, 110.0, 85.0], [90.0, 15.0, 110.0, 85.0],
     [90.0, 12.0, 110.0, 85.0], [90.0, 12.0, 110.0, 85.0]]
)
WRIST_LOWER_DEG = np.array([-60.0, -30.0])  # flexion (towards the palm positive), radial deviation positive
WRIST_UPPER_DEG = np.array([60.0, 20.0])

#: DIP flexion follows 2/3 of PIP flexion within this many degrees (fingers only, not the thumb).
DIP_COUPLING = 2.0 / 3.0
DIP_COUPLING_TOLERANCE_DEG = 15.0
#: A fully flexed MCP keeps this fraction of its abduction range.
FLEXED_ABDUCTION_FRACTION = 0.4


@dataclass
class HandPose:
    """Joint angles of one hand, radians."""

    fingers: np.ndarray  # (5, 4)
    wrist: np.ndarray  # (2,) flexion, deviation
    gesture: str  # the library gesture it was drawn around, or "random"


def _finger(mcp: float, pip: float, abd: float = 0.0, dip: float | None = None) -> list[float]:
    return [mcp, abd, pip, DIP_COUPLING * pip if dip is None else dip]


_EXTENDED = _finger(0, 0)
_CURLED = _finger(85, 100)
_THUMB_OPEN = [-5.0, 12.0, 5.0, 5.0]
_THUMB_FIST = [40.0, 2.0, 40.0, 35.0]
_THUMB_ACROSS = [50.0, -8.0, 45.0, 35.0]

#: Gesture library in degrees, rows thumb..pinky.
GESTURES_DEG: dict[str, np.ndarray] = {
    name: np.array(rows, dtype=float)
    for name, rows in {
        "open": [_THUMB_OPEN, _finger(0, 0, 12), _finger(0, 0, 0), _finger(0, 0, -8), _finger(0, 0, -20)],
        "flat": [[0.0, -10.0, 5.0, 5.0], _finger(0, 0, 2), _EXTENDED, _finger(0, 0, -2), _finger(0, 0, -4)],
        "relaxed": [[10.0, 15.0, 15.0, 15.0], _finger(15, 20, 4), _finger(20, 25), _finger(25, 30, -4), _finger(30, 35, -8)],
        "fist": [_THUMB_FIST, _CURLED, _CURLED, _CURLED, _CURLED],
        "point": [_THUMB_FIST, _EXTENDED, _CURLED, _CURLED, _CURLED],
        "pinch": [[30.0, 25.0, 20.0, 20.0], _finger(40, 45), _finger(30, 35), _finger(35, 40, -5), _finger(40, 45, -10)],
        "ok": [[30.0, 25.0, 20.0, 20.0], _finger(50, 60, 5), _finger(5, 5), _finger(5, 5, -8), _finger(5, 5, -18)],
        "peace": [_THUMB_ACROSS, _finger(0, 0, 12), _finger(0, 0, -8), _CURLED, _CURLED],
        "thumbs_up": [[-12.0, 22.0, 0.0, 0.0], _CURLED, _CURLED, _CURLED, _CURLED],
        "three": [[55.0, -10.0, 45.0, 40.0], _finger(0, 0, 10), _finger(0, 0, 0), _finger(0, 0, -10), _CURLED],
        "four": [_THUMB_ACROSS, _finger(0, 0, 8), _finger(0, 0, 0), _finger(0, 0, -6), _finger(0, 0, -14)],
        "grasp": [[30.0, 35.0, 20.0, 15.0], _finger(45, 60, 4), _finger(45, 60), _finger(45, 60, -4), _finger(45, 60, -8)],
        "call": [_THUMB_OPEN, _CURLED, _CURLED, _CURLED, _finger(0, 0, -18)],
        "rock": [_THUMB_FIST, _finger(0, 0, 6), _CURLED, _CURLED, _finger(0, 0, -12)],
        "claw": [[20.0, 30.0, 30.0, 40.0], _finger(-5, 80, 10), _finger(-5, 80), _finger(-5, 80, -8), _finger(-5, 80, -16)],
    }.items()
}

#: How often each gesture is drawn: open hands dominate webcam footage.
GESTURE_WEIGHTS: dict[str, float] = {
    "open": 4.0, "flat": 1.5, "relaxed": 2.0, "fist": 1.5, "point": 1.5, "pinch": 1.2, "ok": 1.0, "peace": 1.2,
    "thumbs_up": 1.0, "three": 0.8, "four": 0.8, "grasp": 1.2, "call": 0.6, "rock": 0.6, "claw": 0.8,
}
_CONTACT_GESTURES = ("pinch", "ok")
RANDOM_POSE_FRACTION = 0.15


def clip_to_limits(angles: np.ndarray) -> np.ndarray:
    """Clamp (5, 4) radians into the joint limits, the flexion-dependent abduction and DIP coupling."""
    deg = np.clip(np.degrees(angles), LOWER_DEG, UPPER_DEG)
    flex_share = np.clip(deg[:, BASE_FLEX], 0.0, 90.0) / 90.0
    shrink = 1.0 - (1.0 - FLEXED_ABDUCTION_FRACTION) * flex_share
    deg[1:, BASE_ABD] = np.clip(deg[1:, BASE_ABD], LOWER_DEG[1:, BASE_ABD] * shrink[1:], UPPER_DEG[1:, BASE_ABD] * shrink[1:])
    coupled = DIP_COUPLING * deg[1:, MID_FLEX]
    deg[1:, END_FLEX] = np.clip(
        deg[1:, END_FLEX], coupled - DIP_COUPLING_TOLERANCE_DEG, coupled + DIP_COUPLING_TOLERANCE_DEG
    )
    deg[1:, END_FLEX] = np.clip(deg[1:, END_FLEX], LOWER_DEG[1:, END_FLEX], UPPER_DEG[1:, END_FLEX])
    return np.radians(deg)


def within_limits(pose: HandPose, tolerance_deg: float = 1e-6) -> bool:
    """Whether a pose respects every limit (what :func:`clip_to_limits` enforces)."""
    clipped = clip_to_limits(pose.fingers)
    wrist = np.degrees(pose.wrist)
    return bool(
        np.all(np.abs(np.degrees(clipped - pose.fingers)) <= tolerance_deg)
        and np.all(wrist >= WRIST_LOWER_DEG - tolerance_deg)
        and np.all(wrist <= WRIST_UPPER_DEG + tolerance_deg)
    )


def _random_angles(rng: np.random.Generator) -> np.ndarray:
    """Angles spread over the whole range, with the correlated curl of real hands."""
    curl = rng.uniform(0.0, 1.0)
    share = np.clip(curl + rng.normal(0.0, 0.3, size=(5, 4)), 0.0, 1.0)
    deg = LOWER_DEG + share * (UPPER_DEG - LOWER_DEG)
    spread = rng.uniform(-0.3, 1.0)
    deg[1:, BASE_ABD] = spread * np.array([12.0, 0.0, -8.0, -18.0]) + rng.normal(0.0, 4.0, size=4)
    return np.radians(deg)


def _gesture_angles(rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """A library gesture by its weight, sometimes blended part of the way towards another one."""
    names = list(GESTURES_DEG)
    weights = np.array([GESTURE_WEIGHTS[n] for n in names])
    name = names[rng.choice(len(names), p=weights / weights.sum())]
    deg = GESTURES_DEG[name].copy()
    if rng.random() < 0.35:
        other = GESTURES_DEG[names[rng.choice(len(names), p=weights / weights.sum())]]
        deg += rng.uniform(0.0, 0.4) * (other - deg)
    return name, np.radians(deg)


def _perturb(rng: np.random.Generator, angles: np.ndarray) -> np.ndarray:
    """Individual variation around a gesture: a few degrees per joint, less in abduction."""
    noise = rng.normal(0.0, 1.0, size=(5, 4)) * np.radians([7.0, 4.0, 8.0, 6.0])
    return clip_to_limits(angles + noise)


def sample_wrist(rng: np.random.Generator) -> np.ndarray:
    """Wrist flexion and deviation, mostly near neutral."""
    deg = rng.normal(0.0, [22.0, 10.0])
    return np.radians(np.clip(deg, WRIST_LOWER_DEG, WRIST_UPPER_DEG))


def sample_pose(rng: np.random.Generator, shape: HandShape, max_tries: int = 6) -> HandPose:
    """A plausible pose for ``shape``: a perturbed gesture blend, or a random pose, without self-penetration."""
    if rng.random() < RANDOM_POSE_FRACTION:
        name, base = "random", None
    else:
        name, base = _gesture_angles(rng)
    contact = name in _CONTACT_GESTURES
    for _ in range(max_tries):
        candidate = clip_to_limits(_random_angles(rng)) if base is None else _perturb(rng, base)
        angles = settle_thumb(shape, candidate, contact)
        if angles is not None:
            break
    else:  # fall back to the clean gesture (or a flat hand), which settles for every hand shape
        clean = clip_to_limits(np.radians(GESTURES_DEG["flat" if base is None else name]))
        angles = settle_thumb(shape, clean, contact)
        angles = clean if angles is None else angles
    return HandPose(fingers=angles, wrist=sample_wrist(rng), gesture=name)


def settle_thumb(shape: HandShape, angles: np.ndarray, contact: bool = False, steps: int = 8) -> np.ndarray | None:
    """Place the thumb: on the index pad for contact gestures, and lifted off any finger it sinks into.

    Thumbs resting across curled fingers (fist, point, peace) depend on the hand's proportions; the
    thumb is raised away from the palm (more CMC abduction, less MCP flexion) in small steps until
    it lies on the fingers rather than in them. None when the pose still collides after that.
    """
    if contact:
        angles = close_thumb_on_index(shape, angles)
    for _ in range(steps):
        if not fingers_collide(shape, angles):
            return angles
        lifted = angles.copy()
        lifted[0, BASE_ABD] += np.radians(4.0)
        lifted[0, MID_FLEX] -= np.radians(4.0)
        angles = clip_to_limits(lifted)
    return None


def _tip_centres(shape: HandShape, angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the fingertip spheres (5, 3) and the flexion direction of each distal bone (5, 3)."""
    art = forward_kinematics(shape.chains, angles)
    tips = art.joints[4::4]
    distal = art.bone_frames[:, 2]
    return tips - distal[:, :, 1] * shape.radii[:, 3:4] * (1.0 - TIP_INSET), distal[:, :, 2]


def close_thumb_on_index(shape: HandShape, angles: np.ndarray, iterations: int = 12) -> np.ndarray:
    """Move the thumb (within its limits) so that its pad touches the index pad: pinch and OK contact."""
    angles = angles.copy()
    step = np.radians(0.5)
    for _ in range(iterations):
        tips, flex = _tip_centres(shape, angles)
        target = tips[1] + flex[1] * (shape.radii[1, 3] + shape.radii[0, 3]) * 0.9
        error = target - tips[0]
        if np.linalg.norm(error) < 1.0:
            break
        jacobian = np.empty((3, 4))
        for k in range(4):
            moved = angles.copy()
            moved[0, k] += step
            jacobian[:, k] = (_tip_centres(shape, moved)[0][0] - tips[0]) / step
        damping = 25.0
        delta = jacobian.T @ np.linalg.solve(jacobian @ jacobian.T + damping * np.eye(3), error)
        angles[0] += np.clip(delta, -0.3, 0.3)
        angles = clip_to_limits(angles)
    return angles


def _segment_distances(points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Distance of each point (P, 3) to each segment (S, 3)-(S, 3): (P, S)."""
    seg = ends - starts
    rel = points[:, None, :] - starts[None]
    t = np.clip(np.einsum("psk,sk->ps", rel, seg) / np.maximum(np.einsum("sk,sk->s", seg, seg), 1e-9), 0.0, 1.0)
    return np.linalg.norm(rel - t[..., None] * seg[None], axis=-1)


def fingers_collide(shape: HandShape, angles: np.ndarray, overlap: float = 0.65) -> bool:
    """Whether bones of different fingers pass through each other or a fingertip sinks into the palm.

    Bones may touch (their surfaces meet at the sum of their radii); they collide when their axes
    come closer than ``overlap`` times that sum. The thumb's metacarpal lies inside the thenar and
    is left out.
    """
    art = forward_kinematics(shape.chains, angles)
    joints = art.joints[1:].reshape(5, 4, 3)
    starts, ends = joints[:, :3].reshape(15, 3), joints[:, 1:].reshape(15, 3)
    seg_radius = ((shape.radii[:, :3] + shape.radii[:, 1:]) / 2.0).reshape(15)
    finger_of = np.repeat(np.arange(5), 3)
    keep = np.ones(15, dtype=bool)
    keep[0] = False  # thumb metacarpal
    fractions = np.linspace(0.0, 1.0, 5)
    points = (starts[:, None] + fractions[None, :, None] * (ends - starts)[:, None]).reshape(-1, 3)
    point_radius = np.repeat(seg_radius, 5)
    point_finger = np.repeat(finger_of, 5)
    point_keep = np.repeat(keep, 5) & np.tile(fractions > 0.0, 15)
    dist = _segment_distances(points, starts, ends)
    limit = overlap * (point_radius[:, None] + seg_radius[None, :])
    clash = (dist < limit) & (point_finger[:, None] != finger_of[None, :]) & point_keep[:, None] & keep[None, :]
    if np.any(clash):
        return True
    # Fingertips and middle bones against the palm block (palm spans the wrist to the MCP row).
    inner = np.repeat(np.arange(15) % 3 > 0, 5) & point_keep
    mcp_y = shape.chains.bases[1:, 1].min()
    palm_x = shape.wrist_half_width + 6.0
    in_palm = (points[:, 1] > 5.0) & (points[:, 1] < mcp_y - 8.0) & (np.abs(points[:, 0]) < palm_x)
    sunk = np.abs(points[:, 2]) < shape.palm_half_thickness + 0.3 * point_radius
    return bool(np.any(inner & in_palm & sunk))


#: Fraction of hands held up towards the camera like in webcam footage (palm or back facing it).
FACING_CAMERA_FRACTION = 0.55
_PALM_TO_CAMERA = np.diag([1.0, -1.0, -1.0])  # fingers up, palm facing the camera
_BACK_TO_CAMERA = np.diag([-1.0, -1.0, 1.0])  # fingers up, back of the hand facing the camera


def sample_orientation(rng: np.random.Generator) -> np.ndarray:
    """Rotation from the hand frame to the camera frame (x right, y down, z forward).

    Mostly a hand held up with its palm or back towards the camera, tilted and rolled; otherwise
    any orientation at all (the caller rejects those whose forearm points at the camera).
    """
    if rng.random() < FACING_CAMERA_FRACTION:
        base = _PALM_TO_CAMERA if rng.random() < 0.6 else _BACK_TO_CAMERA
        roll, pitch, yaw = np.radians(rng.normal(0.0, [28.0, 25.0, 30.0]))
        return axis_angle([0, 0, 1.0], roll) @ axis_angle([1.0, 0, 0], pitch) @ axis_angle([0, 1.0, 0], yaw) @ base
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])
