"""The 3D bone-direction target: encoded from the crop, in the crop's camera frame, through the Dataset."""

from dataclasses import replace

import numpy as np
import pytest

from handpose.codecs import BoneVectorCodec, GaussianHeatmapCodec
from handpose.data.augment import AugmentConfig
from handpose.data.pipeline import HandPoseDataset
from handpose.geometry.camera import project
from handpose.geometry.crop import CropBox, crop_camera, crop_sample
from handpose.geometry.fit_3d import bone_directions, intrinsics_from_fov, mean_right_hand
from handpose.metrics.alignment import root_relative
from handpose.skeleton import BONES, FINGERS, NUM_JOINTS, ROOT

from random_samples import random_hand_sample

SIZE = 160


def hand_3d_sample(seed: int = 0, side: str = "right"):
    """The mean hand turned at random, 400 mm in front of a 60-degree camera, on a random image."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    turn = q * np.sign(np.diag(r))
    turn *= np.sign(np.linalg.det(turn))
    points = mean_right_hand() @ turn.T + np.array([0.0, 0.0, 400.0])
    return random_hand_sample(rng, intrinsics_from_fov(SIZE, SIZE, 60.0), points, SIZE, SIZE, side, f"hand-{seed}")


def test_directions_are_the_crops_bones_in_its_camera_frame_turned_and_mirrored_with_it():
    sample = hand_3d_sample()
    codec = BoneVectorCodec()
    plain = crop_sample(sample, CropBox((80.0, 80.0), 120.0), 64)
    turned = crop_sample(sample, CropBox((80.0, 80.0), 120.0, rotation=30.0, flip=True), 64)
    for crop in (plain, turned):
        target = codec.encode_crop(crop)
        assert {key: value.dtype for key, value in target.items()} == dict.fromkeys(target, np.float32)
        assert np.allclose(target["directions"], bone_directions(crop.keypoints_3d), atol=1e-6)
        assert np.array_equal(target["weights"], np.ones(len(BONES))) and np.all(target["labelled_3d"] == 1)
        assert np.allclose(target["keypoints_3d"], root_relative(crop.keypoints_3d), atol=1e-4)
        # the crop's frame is the one its pixels see: its 3D projects onto its 2D keypoints
        assert np.allclose(project(crop.keypoints_3d, crop.K), crop.keypoints_2d, atol=1e-6)
    angle = np.radians(30.0)
    turn = np.array([[np.cos(angle), np.sin(angle), 0.0], [-np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    expected = bone_directions(plain.keypoints_3d) @ turn.T * np.array([-1.0, 1.0, 1.0])
    assert np.allclose(codec.encode_crop(turned)["directions"], expected, atol=1e-6)


def test_unlabelled_joints_and_samples_without_3d_give_zero_weights():
    sample = hand_3d_sample()
    visibility = sample.visibility.copy()
    visibility[FINGERS["index"][1]] = 0
    target = BoneVectorCodec().encode_crop(replace(sample, visibility=visibility))
    touching = [i for i, bone in enumerate(BONES) if FINGERS["index"][1] in bone]
    assert touching and np.all(target["weights"][touching] == 0) and np.all(target["directions"][touching] == 0)
    assert target["weights"].sum() == len(BONES) - len(touching) and target["labelled_3d"].sum() == NUM_JOINTS - 1
    visibility[ROOT] = 0
    assert BoneVectorCodec().encode_crop(replace(sample, visibility=visibility))["labelled_3d"].sum() == 0
    empty = BoneVectorCodec().encode_crop(replace(sample, keypoints_3d=None))
    assert all(not value.any() for value in empty.values())
    assert empty["directions"].shape == (len(BONES), 3) and empty["keypoints_3d"].shape == (NUM_JOINTS, 3)


@pytest.mark.parametrize("augment", [None, AugmentConfig()])
def test_the_dataset_hands_crop_encoding_codecs_the_whole_crop(augment):
    samples = [hand_3d_sample(0, "left"), hand_3d_sample(1, "right"), replace(hand_3d_sample(2), keypoints_3d=None)]
    targets = {"heatmaps": GaussianHeatmapCodec(64, 16, 1.5), "bones": BoneVectorCodec()}
    dataset = HandPoseDataset(samples, targets, 64, augment=augment, seed=3)
    items = [dataset[i] for i in range(len(samples))]
    assert all(item["targets"]["heatmaps"]["heatmaps"].shape == (21, 16, 16) for item in items)
    for sample, item in zip(samples[:2], items):
        bones = item["targets"]["bones"]
        assert item["flipped"].item() == (sample.hand_side == "left") and bones["weights"].sum() == len(BONES)
        # the target's frame is the one of the item's crop: the sample's 3D through the crop's affine
        rotation = crop_camera(sample.K, item["affine"].numpy())[1]
        in_crop = sample.keypoints_3d @ rotation.T
        assert np.allclose(bones["directions"].numpy(), bone_directions(in_crop), atol=1e-5)
        assert np.allclose(bones["keypoints_3d"].numpy(), root_relative(in_crop), atol=1e-3)
    assert items[2]["targets"]["bones"]["weights"].sum() == 0
