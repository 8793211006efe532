"""Hand shapes, joint limits, gestures, thumb contact and left/right mirroring."""

import numpy as np
import pytest

from handpose.skeleton import bone_lengths
from handpose.synth.hand_shape import sample_hand_shape
from handpose.synth.kinematics import BASE_ABD, BASE_FLEX, END_FLEX, MID_FLEX, forward_kinematics, mirror_x
from handpose.synth.poses import (
    DIP_COUPLING,
    DIP_COUPLING_TOLERANCE_DEG,
    GESTURES_DEG,
    LOWER_DEG,
    UPPER_DEG,
    WRIST_LOWER_DEG,
    WRIST_UPPER_DEG,
    HandPose,
    clip_to_limits,
    close_thumb_on_index,
    fingers_collide,
    sample_pose,
    settle_thumb,
    within_limits,
)
from handpose.synth.surface import ArmWear, build_hand, hand_labels


def test_hand_lengths_span_adult_range_and_vary():
    rng = np.random.default_rng(0)
    shapes = [sample_hand_shape(rng) for _ in range(200)]
    lengths = np.array([s.length for s in shapes])
    assert lengths.min() >= 150.0 and lengths.max() <= 220.0
    assert lengths.std() > 8.0
    for shape in shapes[:20]:  # the reported length is the wrist to middle fingertip of the flat hand
        joints = forward_kinematics(shape.chains, np.zeros((5, 4))).joints
        assert np.linalg.norm(joints[12]) == pytest.approx(shape.length, rel=0.01)
    ratios = np.array([s.chains.lengths[1].sum() / s.chains.lengths[3].sum() for s in shapes])
    assert ratios.std() > 0.02  # index to ring finger ratio differs between people


def test_sampled_poses_respect_limits_and_dip_coupling():
    rng = np.random.default_rng(1)
    shape = sample_hand_shape(rng)
    gestures = set()
    for _ in range(150):
        pose = sample_pose(rng, shape)
        gestures.add(pose.gesture)
        assert within_limits(pose)
        deg = np.degrees(pose.fingers)
        assert np.all(deg >= LOWER_DEG - 1e-6) and np.all(deg <= UPPER_DEG + 1e-6)
        wrist = np.degrees(pose.wrist)
        assert np.all(wrist >= WRIST_LOWER_DEG - 1e-6) and np.all(wrist <= WRIST_UPPER_DEG + 1e-6)
        dip_gap = deg[1:, END_FLEX] - DIP_COUPLING * deg[1:, MID_FLEX]
        assert np.all(np.abs(dip_gap) <= DIP_COUPLING_TOLERANCE_DEG + 1e-6)
    assert len(gestures) >= 10


def test_clipping_enforces_limits_that_a_wild_pose_breaks():
    wild = np.radians(np.full((5, 4), 170.0))
    assert not within_limits(HandPose(wild, np.zeros(2), "wild"))
    clipped = clip_to_limits(wild)
    assert within_limits(HandPose(clipped, np.zeros(2), "wild"))
    flexed = np.degrees(clipped)
    # A fully flexed MCP cannot spread as far as an extended one.
    assert np.all(flexed[1:, BASE_ABD] < UPPER_DEG[1:, BASE_ABD])
    assert np.all(flexed[:, BASE_FLEX] == UPPER_DEG[:, BASE_FLEX])


@pytest.mark.parametrize("seed", range(4))
def test_gestures_are_within_limits_and_collision_free_once_the_thumb_settles(seed):
    shape = sample_hand_shape(np.random.default_rng(seed))
    for name, deg in GESTURES_DEG.items():
        angles = clip_to_limits(np.radians(deg))
        assert np.allclose(np.degrees(angles), deg, atol=1e-6), name
        settled = settle_thumb(shape, angles, contact=name in ("pinch", "ok"))
        assert settled is not None and not fingers_collide(shape, settled), name


def test_fingers_through_each_other_are_detected():
    shape = sample_hand_shape(np.random.default_rng(3))
    crossed = np.radians(GESTURES_DEG["flat"]).copy()
    crossed[1, BASE_ABD] = np.radians(-15.0)  # index turned into the middle finger
    crossed[2, BASE_ABD] = np.radians(15.0)
    assert fingers_collide(shape, crossed)


@pytest.mark.parametrize("gesture", ["pinch", "ok"])
def test_thumb_closes_on_the_index_pad(gesture):
    shape = sample_hand_shape(np.random.default_rng(4))
    angles = close_thumb_on_index(shape, np.radians(GESTURES_DEG[gesture]))
    joints = forward_kinematics(shape.chains, angles).joints
    gap = np.linalg.norm(joints[4] - joints[8])
    assert gap < 2.5 * (shape.radii[0, 3] + shape.radii[1, 3])
    assert within_limits(HandPose(angles, np.zeros(2), gesture))


def test_left_hand_is_the_mirror_of_the_right():
    rng = np.random.default_rng(5)
    shape = sample_hand_shape(rng)
    pose = sample_pose(rng, shape)
    wear = ArmWear(sleeve_start=None, sleeve_loose=3.0, band=None)
    right_body, right = build_hand(shape, pose, "right", wear, np.eye(3), np.zeros(3))
    left_body, left = build_hand(shape, pose, "left", wear, np.eye(3), np.zeros(3))
    assert np.allclose(left, mirror_x(right))
    assert np.allclose(left_body.cones.a, mirror_x(right_body.cones.a))
    assert np.allclose(bone_lengths(left), bone_lengths(right))
    # Same parts, labelled with each side's own classes.
    hand_rows = right_body.label >= 2
    assert np.array_equal(left_body.label[hand_rows] - 2, right_body.label[hand_rows] - 18)
    assert set(right_body.label[hand_rows]) <= set(hand_labels("right"))
    # The thumb is on opposite sides: the right thumb tip lies at +x, the left one at -x.
    assert right[4, 0] > 0 > left[4, 0]
