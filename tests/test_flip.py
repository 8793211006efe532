from dataclasses import replace

import cv2
import numpy as np
import pytest

from handpose.geometry.camera import intrinsics, project
from handpose.geometry.flip import MIRROR_3D, flip_sample, mirror_intrinsics, opposite_side, to_right_hand
from handpose.structures import HandSample, SampleError

from random_samples import random_hand_sample


def hand_sample(seed: int = 0, side: str | None = "left") -> HandSample:
    rng = np.random.default_rng(seed)
    K = intrinsics(*rng.uniform(300, 900, 2), *rng.uniform(40, 120, 2))
    K[0, 1] = rng.uniform(-5, 5)
    points = rng.normal(0, 40, (21, 3)) + [0, 0, 500]
    return random_hand_sample(rng, K, points, 90, 131, side, "hand-1")


def test_flip_mirrors_pixels_about_the_middle_of_the_image():
    sample = hand_sample()
    flipped = flip_sample(sample)
    width = sample.image.shape[1]
    assert np.allclose(flipped.keypoints_2d[:, 0], width - 1 - sample.keypoints_2d[:, 0])
    assert np.allclose(flipped.keypoints_2d[:, 1], sample.keypoints_2d[:, 1])
    assert np.array_equal(flipped.image[:, width - 1 - 7], sample.image[:, 7])
    assert np.array_equal(flipped.mask[:, 0], sample.mask[:, -1])
    x0, y0, x1, y1 = sample.box
    assert np.allclose(flipped.box, [width - 1 - x1, y0, width - 1 - x0, y1])
    flipped.validate()


def test_flip_keeps_projection_consistent_and_swaps_the_side():
    for seed in range(20):
        sample = hand_sample(seed)
        flipped = flip_sample(sample)
        assert np.abs(project(flipped.keypoints_3d, flipped.K) - flipped.keypoints_2d).max() < 1e-6
        assert np.allclose(flipped.keypoints_3d[:, 0], -sample.keypoints_3d[:, 0])
        assert flipped.hand_side == "right" and flipped.extras["flipped"] is True
        assert flipped.K[0, 0] > 0 and flipped.K[1, 1] > 0


def test_flipping_twice_is_the_identity():
    sample = hand_sample(3)
    twice = flip_sample(flip_sample(sample))
    for name in ("image", "mask", "depth"):
        assert np.array_equal(getattr(twice, name), getattr(sample, name))
    for name in ("keypoints_2d", "keypoints_3d", "K", "box"):
        assert np.allclose(getattr(twice, name), getattr(sample, name))
    assert twice.hand_side == sample.hand_side and twice.extras["flipped"] is False


def test_flip_composes_into_an_existing_crop_affine():
    sample = hand_sample(4)
    sample.extras["crop_affine"] = np.array([[2.0, 0.0, -10.0], [0.0, 2.0, -4.0]])
    flipped = flip_sample(sample)
    point = np.array([30.0, 12.0])
    crop_point = sample.extras["crop_affine"][:, :2] @ point + sample.extras["crop_affine"][:, 2]
    through = flipped.extras["crop_affine"][:, :2] @ point + flipped.extras["crop_affine"][:, 2]
    assert np.allclose(through, [sample.image.shape[1] - 1 - crop_point[0], crop_point[1]])


def test_to_right_hand_flips_left_hands_only():
    assert to_right_hand(hand_sample(side="left")).hand_side == "right"
    right = hand_sample(side="right")
    assert to_right_hand(right) is right
    unknown = hand_sample(side=None)
    assert to_right_hand(unknown) is unknown
    assert opposite_side(None) is None


def test_mirror_intrinsics_is_its_own_inverse():
    K = intrinsics(500, 420, 33.5, 60)
    K[0, 1] = 2.0
    assert np.allclose(mirror_intrinsics(mirror_intrinsics(K, 64), 64), K)
    assert np.allclose(MIRROR_3D @ MIRROR_3D, np.eye(3))


def test_unreadable_mask_file_names_the_file_and_the_sample(tmp_path):
    sample = hand_sample(5)
    sample.mask = tmp_path / "missing_mask.png"
    with pytest.raises(SampleError, match=r"missing_mask\.png.*hand-1"):
        flip_sample(sample)


def test_mask_and_depth_files_are_read_and_flipped(tmp_path):
    sample = hand_sample(6)
    cv2.imwrite(str(tmp_path / "mask.png"), sample.mask)
    np.save(tmp_path / "depth.npy", sample.depth)
    on_disk = replace(sample, mask=tmp_path / "mask.png", depth=tmp_path / "depth.npy")
    flipped = flip_sample(on_disk)
    assert np.array_equal(flipped.mask, sample.mask[:, ::-1])
    assert np.array_equal(flipped.depth, sample.depth[:, ::-1])
