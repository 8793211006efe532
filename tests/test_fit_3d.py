"""Absolute 3D from 2D: the camera-frame fit, intrinsics from a field of view, the mean hand, bones."""

import math

import numpy as np
import pytest

from handpose.geometry.camera import project
from handpose.geometry.fit_3d import (
    SIZE_BONE,
    bone_directions,
    fit_camera_frame,
    hand_size,
    intrinsics_from_focal,
    intrinsics_from_fov,
    keypoints_from_bone_directions,
    mean_bone_lengths,
    mean_hand_size,
    mean_right_hand,
)
from handpose.skeleton import BONES, FINGERS, NUM_JOINTS, ROOT, bone_lengths


def rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


@pytest.fixture
def scene():
    """The mean hand turned at random and placed 420 mm in front of a 640x480, 65-degree camera."""
    rng = np.random.default_rng(3)
    K = intrinsics_from_fov(640, 480, 65.0)
    turn = rotation(rng)
    translation = np.array([35.0, -20.0, 420.0])
    shape = mean_right_hand() @ turn.T
    return K, turn, translation, shape, project(shape + translation, K)


def test_intrinsics_from_the_field_of_view_put_its_edges_on_the_outer_pixel_edges():
    K = intrinsics_from_fov(640, 480, 60.0)
    assert K[0, 0] == K[1, 1] == pytest.approx(320.0 / math.tan(math.radians(30.0)))
    assert K[0, 2] == 319.5 and K[1, 2] == 239.5
    edge = np.array([[-math.tan(math.radians(30.0)), 0.0, 1.0], [math.tan(math.radians(30.0)), 0.0, 1.0]])
    assert np.allclose(project(edge, K)[:, 0], [-0.5, 639.5])
    assert np.array_equal(intrinsics_from_focal(640, 480, K[0, 0]), K)
    for bad in (0.0, 180.0):
        with pytest.raises(ValueError, match="fov_degrees"):
            intrinsics_from_fov(640, 480, bad)


def test_the_mean_hand_is_root_relative_right_handed_and_sized_like_an_adult_hand():
    hand = mean_right_hand()
    assert hand.shape == (NUM_JOINTS, 3) and np.array_equal(hand[ROOT], np.zeros(3))
    assert 80.0 < mean_hand_size() < 95.0 and mean_hand_size() == pytest.approx(hand_size(hand))
    assert hand[FINGERS["thumb"][-1], 0] > 0 > hand[FINGERS["pinky"][-1], 0]  # x points to the thumb
    middle_length = np.linalg.norm(hand[FINGERS["middle"][-1]])
    assert 175.0 < middle_length < 195.0  # the generator's mean hand: 185 mm wrist to middle tip
    assert np.allclose(mean_bone_lengths(), bone_lengths(hand))
    hand[0, 0] = 1.0
    assert mean_right_hand()[0, 0] == 0.0  # a copy: callers cannot spoil the cached hand


def test_bone_directions_and_lengths_give_the_keypoints_back_exactly():
    rng = np.random.default_rng(0)
    keypoints = rng.normal(0.0, 50.0, (4, NUM_JOINTS, 3))
    directions = bone_directions(keypoints)
    assert directions.shape == (4, len(BONES), 3) and np.allclose(np.linalg.norm(directions, axis=-1), 1.0)
    back = keypoints_from_bone_directions(directions, bone_lengths(keypoints), keypoints[:, ROOT])
    assert np.abs(back - keypoints).max() < 1e-9
    raw = keypoints_from_bone_directions(3.0 * directions[0], bone_lengths(keypoints[0]))  # not unit: normalised
    assert np.abs(raw - (keypoints[0] - keypoints[0, ROOT])).max() < 1e-9
    keypoints[0, 2] = keypoints[0, 1]
    assert np.isnan(bone_directions(keypoints[0])[1]).all()  # a bone of length 0 has no direction


def test_the_fit_recovers_the_root_depth_and_translation_from_exact_2d(scene):
    K, _, translation, shape, pixels = scene
    fit = fit_camera_frame(pixels, shape, K)
    assert np.abs(fit.translation - translation).max() < 0.1
    assert np.abs(fit.keypoints_3d - (shape + translation)).max() < 0.1
    assert np.array_equal(fit.rotation, np.eye(3)) and fit.rms_px < 1e-6
    scaled = fit_camera_frame(pixels, 1.3 * shape + 7.0, K, size_mm=hand_size(shape))  # size and root restored
    assert np.abs(scaled.translation - translation).max() < 0.1


def test_the_fit_stays_close_with_one_pixel_of_noise_and_follows_the_weights(scene):
    K, _, translation, shape, pixels = scene
    rng = np.random.default_rng(1)
    depth_errors = [
        abs(fit_camera_frame(pixels + rng.normal(0.0, 1.0, pixels.shape), shape, K).translation[2] - translation[2])
        for _ in range(20)
    ]
    assert np.mean(depth_errors) < 1.5 and max(depth_errors) < 5.0  # mm, at 420 mm (measured: 0.8 and 3.2 over 200)
    wrong = pixels.copy()
    wrong[FINGERS["pinky"][-1]] += 80.0
    weights = np.ones(NUM_JOINTS)
    weights[FINGERS["pinky"][-1]] = 0.0
    assert np.abs(fit_camera_frame(wrong, shape, K, weights).translation - translation).max() < 0.1


def test_the_fit_finds_the_rotation_of_a_shape_of_unknown_orientation(scene):
    K, turn, translation, _, pixels = scene
    fit = fit_camera_frame(pixels, mean_right_hand(), K, fit_rotation=True)
    assert np.abs(fit.rotation - turn).max() < 1e-6
    assert np.abs(fit.translation - translation).max() < 0.1
    assert hand_size(fit.keypoints_3d) == pytest.approx(mean_hand_size())


def test_the_fit_refuses_keypoints_that_no_placement_explains(scene):
    K, _, _, shape, pixels = scene
    with pytest.raises(ValueError, match="at least 3"):
        fit_camera_frame(pixels, shape, K, weights=np.eye(NUM_JOINTS)[0])
    with pytest.raises(ValueError, match="behind the camera"):
        fit_camera_frame(pixels, -50.0 * shape, K)  # the hand turned inside out, and far too big
    assert SIZE_BONE == (ROOT, FINGERS["middle"][0])


def test_the_mean_hand_weighted_to_the_palm_places_a_hand_whatever_its_fingers_do(scene):
    K, turn, translation, _, _ = scene
    rng = np.random.default_rng(2)
    palm = [ROOT] + [finger[0] for finger in FINGERS.values()]
    posed = mean_right_hand()
    fingers = np.setdiff1d(np.arange(NUM_JOINTS), palm)
    posed[fingers] += rng.normal(0.0, 25.0, (len(fingers), 3))  # curled, spread: anything but the palm
    weights = np.isin(np.arange(NUM_JOINTS), palm).astype(float)
    fit = fit_camera_frame(project(posed @ turn.T + translation, K), mean_right_hand(), K, weights, fit_rotation=True)
    assert np.abs(fit.translation - translation).max() < 0.1 and np.abs(fit.rotation - turn).max() < 1e-6
