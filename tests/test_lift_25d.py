"""3D from 2D keypoints and relative depths: exact recovery, re-anchoring a turned shape, failures."""

import numpy as np
import pytest

from handpose.geometry.camera import project
from handpose.geometry.fit_3d import intrinsics_from_fov, mean_bone_lengths, mean_hand_size, mean_right_hand
from handpose.geometry.lift_25d import anchor_prediction, anchor_to_2d, lift_25d
from handpose.skeleton import NUM_JOINTS, ROOT
from handpose.structures import HandPrediction


def turned(angle_degrees: float, axis: int) -> np.ndarray:
    c, s = np.cos(np.radians(angle_degrees)), np.sin(np.radians(angle_degrees))
    plane = [i for i in range(3) if i != axis]
    rotation = np.eye(3)
    rotation[np.ix_(plane, plane)] = [[c, -s], [s, c]]
    return rotation


@pytest.fixture
def hands():
    """Two poses of the mean hand, turned out of the image plane, 300 and 520 mm from a 640x480,
    65-degree camera, with their exact 2D keypoints."""
    K = intrinsics_from_fov(640, 480, 65.0)
    shapes = [mean_right_hand() @ turned(50.0, 0).T, mean_right_hand() @ (turned(-35.0, 1) @ turned(120.0, 2)).T]
    points = np.stack([shapes[0] + [40.0, -10.0, 300.0], shapes[1] + [-60.0, 30.0, 520.0]])
    return K, points, project(points, K)


def test_exact_2d_and_depths_give_back_the_camera_frame_3d_and_its_root_depth(hands):
    K, points, pixels = hands
    lifted = lift_25d(pixels, points[..., 2], K, np.broadcast_to(mean_bone_lengths(), (2, 20)))
    assert lifted.shape == (2, NUM_JOINTS, 3)
    assert np.abs(lifted - points).max() < 1e-6  # mm
    assert np.abs(lifted[:, ROOT, 2] - [300.0, 520.0]).max() < 1e-6
    one = lift_25d(pixels[1], points[1, :, 2] - 7.0, K, mean_bone_lengths())  # any depth origin
    assert np.abs(one - points[1]).max() < 1e-6


def test_a_shape_turned_in_the_image_plane_is_put_back_on_its_2d_keypoints(hands):
    """The shape's depths and bone lengths are right, its in-plane rotation is not: re-anchored on
    the 2D, it becomes the true hand; a size given rescales it first."""
    K, points, pixels = hands
    wrong = (points[0] - points[0, ROOT]) @ turned(40.0, 2).T  # turned about the optical axis: depths kept
    assert np.abs(wrong - (points[0] - points[0, ROOT])).max() > 30.0
    assert np.abs(anchor_to_2d(pixels[0], wrong, K) - points[0]).max() < 1e-6
    assert np.abs(anchor_to_2d(pixels[0], 2.0 * wrong, K, size_mm=mean_hand_size()) - points[0]).max() < 1e-6
    hand = HandPrediction(box=np.array([0.0, 0.0, 1.0, 1.0]), keypoints=pixels[0], keypoint_scores=np.ones(21),
                          keypoints_3d=wrong)
    assert np.abs(anchor_prediction(hand, K).keypoints_3d - (points[0] - points[0, ROOT])).max() < 1e-6
    assert anchor_prediction(HandPrediction(box=hand.box, keypoints=pixels[0], keypoint_scores=np.ones(21)), K).keypoints_3d is None


def test_depths_no_hand_in_front_of_the_camera_fits_give_nan_and_that_hand_keeps_its_shape(hands):
    K, points, pixels = hands
    depths = points[..., 2].copy()
    depths[0, 12] -= 900.0  # a fingertip far nearer than the camera, for a hand 300 mm away
    lifted = lift_25d(pixels, depths, K, np.broadcast_to(mean_bone_lengths(), (2, 20)))
    assert np.isnan(lifted[0]).all() and np.abs(lifted[1] - points[1]).max() < 1e-6
    shape = points[0] - points[0, ROOT]
    shape[12, 2] -= 900.0
    hand = HandPrediction(box=np.array([0.0, 0.0, 1.0, 1.0]), keypoints=pixels[0], keypoint_scores=np.ones(21),
                          keypoints_3d=shape)
    assert anchor_prediction(hand, K) is hand


def test_inputs_that_cannot_fix_a_root_depth_are_refused(hands):
    K, points, pixels = hands
    with pytest.raises(ValueError, match="coincide"):
        lift_25d(np.full((21, 2), 100.0), points[0, :, 2], K, mean_bone_lengths())
    with pytest.raises(ValueError, match="finite"):
        lift_25d(np.where(np.arange(21)[:, None] == 3, np.nan, pixels[0]), points[0, :, 2], K, mean_bone_lengths())
    with pytest.raises(ValueError, match="21, 2"):
        lift_25d(pixels[0, :20], points[0, :20, 2], K, mean_bone_lengths())
