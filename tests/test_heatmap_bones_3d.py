"""The heatmap + 3D bone-direction estimator: targets, loss, 3D predictions back in the image's
frame (mirrored crops included), validation figures, weights files and a one-epoch training."""

import math

import numpy as np
import pytest
import torch

from handpose.codecs import BoneVectorCodec
from handpose.estimators import ESTIMATORS, build_estimator
from handpose.geometry.crop import CropBox, crop_affine, crop_sample
from handpose.geometry.fit_3d import bone_directions, hand_size, mean_hand_size
from handpose.metrics.alignment import root_relative
from handpose.skeleton import BONES, NUM_JOINTS

from test_bone_vectors import hand_3d_sample

INPUT = 64


def tiny_estimator(**bones):
    return build_estimator(
        "heatmap_bones_3d",
        network={"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 8},
        codec={"input_size": INPUT, "sigma": 1.5},
        bones={"hidden": 8, **bones},
    )


def batch_of(crops):
    """A validation-like batch of cropped samples, encoded by the bone codec."""
    targets = [BoneVectorCodec().encode_crop(crop) for crop in crops]
    bones = {key: torch.from_numpy(np.stack([t[key] for t in targets])) for key in targets[0]}
    keypoints = torch.from_numpy(np.stack([c.keypoints_2d for c in crops])).float()
    visibility = torch.from_numpy(np.stack([c.visibility for c in crops]))
    return {"targets": {"bones": bones}, "keypoints": keypoints, "visibility": visibility}


def outputs_with(directions, count):
    return {"heatmaps": torch.zeros(count, NUM_JOINTS, INPUT // 4, INPUT // 4), "bones": torch.as_tensor(directions)}


def test_the_estimator_is_registered_and_declares_both_targets(seeded_one_thread_torch):
    estimator = tiny_estimator()
    assert ESTIMATORS["heatmap_bones_3d"] is type(estimator)
    assert set(estimator.targets) == {"heatmaps", "bones"} and isinstance(estimator.targets["bones"], BoneVectorCodec)
    outputs = estimator(torch.zeros(2, 3, INPUT, INPUT))
    assert outputs["heatmaps"].shape == (2, NUM_JOINTS, 16, 16) and outputs["bones"].shape == (2, len(BONES), 3)
    with pytest.raises(ValueError, match="mobilenetv2_pose"):
        build_estimator("heatmap_bones_3d", network={"name": "cpm", "width_mult": 0.25}, codec={"input_size": INPUT})
    for bad in ({"loss": "l1"}, {"weight": -1.0}, {"hand_size_mm": 0.0}, {"depth": 3}):
        with pytest.raises(ValueError, match="estimator.bones"):
            tiny_estimator(**bad)


def test_predicted_3d_returns_to_the_image_frame_from_turned_and_mirrored_crops(seeded_one_thread_torch):
    estimator = tiny_estimator()
    sample = hand_3d_sample(4, "left")  # the mean hand: its bone lengths are the estimator's
    boxes = [
        CropBox((80.0, 80.0), 120.0),
        CropBox((80.0, 80.0), 120.0, flip=True),
        CropBox((75.0, 85.0), 110.0, rotation=40.0, flip=True),
    ]
    crops = [crop_sample(sample, box, INPUT) for box in boxes]
    directions = np.stack([bone_directions(crop.keypoints_3d) for crop in crops]).astype(np.float32)
    affines = np.stack([crop_affine(box, INPUT) for box in boxes])
    predictions = estimator.predict(outputs_with(directions, 3), affines, np.array([b.flip for b in boxes]))
    expected = root_relative(sample.keypoints_3d)
    for prediction in predictions:
        assert np.abs(prediction.keypoints_3d - expected).max() < 1e-3
    assert [p.hand_side for p in predictions] == ["right", "left", "left"]
    # a mirrored crop's directions mirror (x -> -x) relative to the plain crop's
    assert np.allclose(directions[1], directions[0] * np.array([-1.0, 1.0, 1.0]), atol=1e-6)
    sized = tiny_estimator(hand_size_mm=100.0).predict(outputs_with(directions[:1], 1), affines[:1], np.array([False]))
    assert hand_size(sized[0].keypoints_3d) == pytest.approx(100.0)
    assert hand_size(predictions[0].keypoints_3d) == pytest.approx(mean_hand_size())


def test_loss_and_validation_figures_of_perfect_and_wrong_directions(seeded_one_thread_torch):
    estimator = tiny_estimator()
    sample = hand_3d_sample(5)
    crops = [crop_sample(sample, CropBox((80.0, 80.0), 120.0, rotation=r), INPUT) for r in (0.0, 25.0)]
    batch = batch_of(crops)
    truth = batch["targets"]["bones"]["directions"].clone()
    assert estimator.bone_loss(outputs_with(3.0 * truth, 2), batch).item() == pytest.approx(0.0, abs=1e-6)
    assert estimator.bone_loss(outputs_with(-truth, 2), batch).item() == pytest.approx(2.0, abs=1e-6)
    l2 = tiny_estimator(loss="l2")
    assert l2.bone_loss(outputs_with(3.0 * truth, 2), batch).item() == pytest.approx(4.0, abs=1e-5)
    records = estimator.validation_records(outputs_with(truth, 2), batch)
    assert records.shape == (2, NUM_JOINTS + len(BONES) + NUM_JOINTS)
    metrics = estimator.validation_metrics(records, (0.0, 20.0))
    assert metrics["bone_angle_deg"] < 0.1 and metrics["mpjpe_scale_mm"] < 0.01 and metrics["auc_3d"] == 1.0
    assert {"epe_px", "auc"} <= set(metrics)
    tilted = truth.clone()
    tilted[..., 2] += math.tan(math.radians(10.0))  # not unit: bones turned by various angles
    tilted_metrics = estimator.validation_metrics(estimator.validation_records(outputs_with(tilted, 2), batch), (0, 20))
    assert tilted_metrics["bone_angle_deg"] > 1.0 and tilted_metrics["mpjpe_scale_mm"] > 1.0

    for target in batch["targets"]["bones"].values():
        target.zero_()  # no 3D labels at all: nothing to learn, nothing to measure
    heatmaps = torch.zeros(2, NUM_JOINTS, INPUT // 4, INPUT // 4)
    batch["targets"]["heatmaps"] = {"heatmaps": heatmaps, "weights": torch.ones(2, NUM_JOINTS)}
    terms = estimator.loss(estimator(torch.zeros(2, 3, INPUT, INPUT)), batch, epoch=0)
    assert terms["bone_loss"].item() == 0.0 and torch.isfinite(terms["loss"])
    empty = estimator.validation_metrics(estimator.validation_records(outputs_with(truth, 2), batch), (0.0, 20.0))
    assert all(math.isnan(empty[name]) for name in ("bone_angle_deg", "mpjpe_scale_mm", "auc_3d"))
