import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from handpose.geometry.canonical import (
    MIDDLE_MCP,
    MIDDLE_PIP,
    PINKY_MCP,
    CanonicalPose,
    from_canonical,
    to_canonical,
)
from handpose.geometry.flip import MIRROR_3D
from handpose.skeleton import ROOT


def random_hands(rng: np.random.Generator, batch: tuple[int, ...]) -> np.ndarray:
    return rng.normal(0, 50, batch + (21, 3)) + rng.uniform(-200, 200, batch + (1, 3)) + [0, 0, 600]


def random_sides(rng: np.random.Generator, batch: tuple[int, ...]) -> np.ndarray:
    return np.where(rng.random(batch) < 0.5, "left", "right").astype(object)


def test_round_trip_on_random_batched_hands():
    rng = np.random.default_rng(0)
    hands, sides = random_hands(rng, (4, 50)), random_sides(rng, (4, 50))
    pose = to_canonical(hands, sides)
    assert pose.coords.shape == (4, 50, 21, 3) and pose.rotation.shape == (4, 50, 3, 3)
    assert pose.scale.shape == (4, 50) and pose.root.shape == (4, 50, 3)
    assert np.abs(from_canonical(pose, sides) - hands).max() < 1e-6


def test_reference_bone_on_the_negative_y_axis_and_pinky_in_the_xy_plane():
    rng = np.random.default_rng(1)
    hands, sides = random_hands(rng, (200,)), random_sides(rng, (200,))
    coords = to_canonical(hands, sides).coords
    assert np.allclose(coords[:, ROOT], 0)
    assert np.allclose(coords[:, MIDDLE_MCP, [0, 2]], 0) and np.all(coords[:, MIDDLE_MCP, 1] < 0)
    assert np.allclose(coords[:, PINKY_MCP, 2], 0) and np.all(coords[:, PINKY_MCP, 0] > 0)
    assert np.allclose(np.linalg.norm(coords[:, MIDDLE_PIP] - coords[:, MIDDLE_MCP], axis=-1), 1)


def test_rotation_is_proper_and_scale_is_the_middle_phalanx():
    rng = np.random.default_rng(2)
    hands = random_hands(rng, (100,))
    pose = to_canonical(hands, "left")
    assert np.allclose(pose.rotation @ np.swapaxes(pose.rotation, -1, -2), np.eye(3))
    assert np.allclose(np.linalg.det(pose.rotation), 1.0)
    assert np.allclose(pose.scale, np.linalg.norm(hands[:, MIDDLE_PIP] - hands[:, MIDDLE_MCP], axis=-1))


def test_canonical_shape_ignores_position_size_and_viewpoint():
    rng = np.random.default_rng(3)
    hand = random_hands(rng, ())
    turn = Rotation.random(random_state=4).as_matrix()
    moved = 2.5 * hand @ turn.T + [10.0, -40.0, 300.0]
    assert np.allclose(to_canonical(moved, "right").coords, to_canonical(hand, "right").coords)


def test_a_mirrored_left_hand_is_the_same_right_hand_in_the_canonical_frame():
    rng = np.random.default_rng(5)
    left = random_hands(rng, (20,))
    left_pose = to_canonical(left, "left")
    right_pose = to_canonical(left @ MIRROR_3D, "right")
    assert np.allclose(right_pose.coords, left_pose.coords)
    assert np.allclose(np.linalg.det(right_pose.rotation), 1.0)


def test_degenerate_or_unsided_hands_are_refused():
    hand = random_hands(np.random.default_rng(6), (3,))
    hand[1, MIDDLE_MCP] = hand[1, ROOT]
    with pytest.raises(ValueError, match=r"\[\[1\]\].*coincide"):
        to_canonical(hand, "left")
    with pytest.raises(ValueError, match="hand_side"):
        to_canonical(hand[0], None)
    with pytest.raises(ValueError, match="does not match"):
        to_canonical(hand, ["left", "right"])
    pose = to_canonical(hand[0], "left")
    assert isinstance(pose, CanonicalPose) and pose.coords.shape == (21, 3)
