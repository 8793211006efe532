"""The heatmap + relative-depth (2.5D) estimator: reading depths where the heatmaps peak, targets
and loss, 3D that re-anchors exactly from exact 2D and depths, weights files and one epoch."""

import math

import numpy as np
import pytest
import torch

from handpose.codecs import BoneVectorCodec
from handpose.estimators import ESTIMATORS, build_estimator
from handpose.estimators.heatmap_depth_25d import read_depths, shape_from_depths
from handpose.geometry.crop import CropBox, crop_affine, crop_sample
from handpose.geometry.fit_3d import hand_size, mean_bone_lengths
from handpose.geometry.lift_25d import anchor_prediction
from handpose.metrics.alignment import root_relative
from handpose.skeleton import NUM_JOINTS, ROOT, bone_lengths

from test_bone_vectors import hand_3d_sample

INPUT = 64


def tiny_estimator(**depths):
    return build_estimator(
        "heatmap_depth_25d",
        network={"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 8},
        codec={"input_size": INPUT, "sigma": 1.5},
        depths={"hidden": 8, **depths},
    )


def batch_of(crops):
    targets = [BoneVectorCodec().encode_crop(crop) for crop in crops]
    pose = {key: torch.from_numpy(np.stack([t[key] for t in targets])) for key in targets[0]}
    keypoints = torch.from_numpy(np.stack([c.keypoints_2d for c in crops])).float()
    visibility = torch.from_numpy(np.stack([c.visibility for c in crops]))
    return {"targets": {"pose_3d": pose}, "keypoints": keypoints, "visibility": visibility}


def true_depths(crop):
    """The crop's depths relative to the wrist, in hand sizes."""
    relative = root_relative(crop.keypoints_3d)
    return relative[:, 2] / hand_size(relative)


def test_the_estimator_is_registered_and_rejects_bad_settings(seeded_one_thread_torch):
    estimator = tiny_estimator()
    assert ESTIMATORS["heatmap_depth_25d"] is type(estimator)
    assert set(estimator.targets) == {"heatmaps", "pose_3d"}
    outputs = estimator(torch.zeros(2, 3, INPUT, INPUT))
    assert outputs["heatmaps"].shape == (2, NUM_JOINTS, 16, 16) and outputs["depths"].shape == (2, NUM_JOINTS)
    assert torch.all(outputs["depths"][:, ROOT] == 0) and torch.any(outputs["depths"] != 0)  # relative to the wrist
    with pytest.raises(ValueError, match="mobilenetv2_pose"):
        build_estimator("heatmap_depth_25d", network={"name": "cpm", "width_mult": 0.25}, codec={"input_size": INPUT})
    for bad in ({"weight": -1.0}, {"hidden": 0}, {"hand_size_mm": 0.0}, {"loss": "l1"}):
        with pytest.raises(ValueError, match="estimator.depths"):
            tiny_estimator(**bad)


def test_depths_are_read_where_each_heatmap_peaks():
    depth_maps = torch.arange(2 * NUM_JOINTS * 16, dtype=torch.float32).reshape(2, NUM_JOINTS, 4, 4)
    heatmaps = torch.full((2, NUM_JOINTS, 4, 4), -0.5)  # negative background weighs nothing
    heatmaps[:, :, 1, 2] = 1.0
    heatmaps[1, 3] = 0.0  # nowhere positive: the plain mean of its map
    read = read_depths(depth_maps, heatmaps)
    assert torch.allclose(read[0], depth_maps[0, :, 1, 2])
    assert read[1, 3] == pytest.approx(depth_maps[1, 3].mean().item())
    heatmaps[0, 0, 1, 1] = 1.0  # two equal peaks: their mean
    assert read_depths(depth_maps, heatmaps)[0, 0] == pytest.approx(depth_maps[0, 0, 1, 1:3].mean().item())


def test_exact_2d_and_depths_give_back_the_exact_3d_through_turned_and_mirrored_crops(seeded_one_thread_torch):
    estimator = tiny_estimator()
    sample = hand_3d_sample(6, "left")  # the mean hand: its bone lengths are the estimator's
    boxes = [CropBox((80.0, 80.0), 120.0), CropBox((75.0, 85.0), 110.0, rotation=40.0, flip=True)]
    crops = [crop_sample(sample, box, INPUT) for box in boxes]
    affines = np.stack([crop_affine(box, INPUT) for box in boxes])
    outputs = {"heatmaps": torch.zeros(2, NUM_JOINTS, 16, 16), "depths": torch.from_numpy(np.stack([true_depths(c) for c in crops]))}
    exact_2d = np.stack([crop.keypoints_2d for crop in crops])
    estimator.decode = lambda _: (exact_2d, np.ones((2, NUM_JOINTS)))
    shapes = estimator.decode_3d(outputs)
    assert np.allclose(bone_lengths(shapes), mean_bone_lengths(), atol=1e-6)
    expected = root_relative(sample.keypoints_3d)
    for prediction in estimator.predict(outputs, affines, np.array([b.flip for b in boxes])):
        assert np.abs(anchor_prediction(prediction, sample.K).keypoints_3d - expected).max() < 1e-4


def test_a_bone_steeper_than_its_length_keeps_its_length():
    keypoints_2d = np.random.default_rng(0).uniform(0, 64, (NUM_JOINTS, 2))
    depths = np.zeros(NUM_JOINTS)
    depths[4] = 500.0  # the thumb tip far behind its parent: the bone points straight away
    shape = shape_from_depths(keypoints_2d, depths, mean_bone_lengths())
    assert np.allclose(bone_lengths(shape), mean_bone_lengths())
    assert shape[4, 2] - shape[3, 2] == pytest.approx(mean_bone_lengths()[3])


def test_loss_and_validation_figures_of_perfect_and_wrong_depths(seeded_one_thread_torch):
    estimator = tiny_estimator()
    sample = hand_3d_sample(5)
    crops = [crop_sample(sample, CropBox((80.0, 80.0), 120.0, rotation=r), INPUT) for r in (0.0, 25.0)]
    batch = batch_of(crops)
    depths = torch.from_numpy(np.stack([true_depths(c) for c in crops])).float()
    heatmaps = torch.zeros(2, NUM_JOINTS, 16, 16)
    assert estimator.depth_loss({"depths": depths}, batch).item() == pytest.approx(0.0, abs=1e-6)
    assert estimator.depth_loss({"depths": depths + 0.25}, batch).item() == pytest.approx(0.25, abs=1e-6)
    estimator.decode = lambda _: (np.stack([c.keypoints_2d for c in crops]), np.ones((2, NUM_JOINTS)))
    records = estimator.validation_records({"heatmaps": heatmaps, "depths": depths}, batch)
    assert records.shape == (2, 3 * NUM_JOINTS)
    metrics = estimator.validation_metrics(records, (0.0, 20.0))
    assert metrics["depth_error"] < 1e-6 and metrics["auc_3d"] > 0.99 and {"epe_px", "auc"} <= set(metrics)
    worse = estimator.validation_metrics(estimator.validation_records({"heatmaps": heatmaps, "depths": -depths}, batch), (0, 20))
    assert worse["depth_error"] > 0.1 and worse["mpjpe_scale_mm"] > metrics["mpjpe_scale_mm"] + 1.0

    for target in batch["targets"]["pose_3d"].values():
        target.zero_()  # no 3D labels: nothing to learn, nothing to measure
    batch["targets"]["heatmaps"] = {"heatmaps": heatmaps, "weights": torch.ones(2, NUM_JOINTS)}
    terms = estimator.loss(estimator(torch.zeros(2, 3, INPUT, INPUT)), batch, epoch=0)
    assert terms["depth_loss"].item() == 0.0 and torch.isfinite(terms["loss"])
    empty = estimator.validation_metrics(estimator.validation_records({"heatmaps": heatmaps, "depths": depths}, batch), (0, 20))
    assert all(math.isnan(empty[name]) for name in ("depth_error", "mpjpe_scale_mm", "auc_3d"))


def test_own_up_path_starts_as_the_networks_and_learns_while_the_network_stays_frozen(tmp_path, seeded_one_thread_torch):
    from handpose.inference.weights import load_estimator, save_weights
    from handpose.train.checkpoint import load_network_weights
    from handpose.train.config import config_from_dict
    from handpose.train.run import train

    source = save_weights(tiny_estimator().eval(), tmp_path / "plain.pt")
    own = tiny_estimator(own_up_path=True, freeze_2d=True)
    missing, _ = load_network_weights(own, source)
    assert missing and all(name.startswith("depth_head.up.") for name in missing)
    own.start_new_weights(missing)
    images = torch.randn(2, 3, INPUT, INPUT)
    with torch.no_grad():
        assert torch.allclose(own.eval()(images)["depths"], load_estimator(source)(images)["depths"], atol=1e-6)

    config = config_from_dict({
        "name": "own-up-path",
        "init_from": str(source),
        "data": {"train": [{"format": "synth", "count": 8, "seed": 1, "size": 64}],
                 "val": [{"format": "synth", "count": 4, "seed": 2, "size": 64}],
                 "cache_dir": str(tmp_path / "cache"), "batch_size": 4, "workers": 0},
        "model": {"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 8},
        "estimator": {"name": "heatmap_depth_25d", "depths": {"hidden": 8, "freeze_2d": True, "own_up_path": True}},
        "codec": {"input_size": INPUT, "sigma": 1.5},
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "enable_progress_bar": False},
        "output_dir": str(tmp_path / "run"),
    })
    trained = load_estimator(train(config).last_checkpoint)
    before = load_estimator(source)
    network = {k: v for k, v in trained.state_dict().items() if k.startswith("network.")}
    assert all(torch.equal(value, before.state_dict()[name]) for name, value in network.items())  # frozen, bit for bit
    up = trained.depth_head.up.state_dict()
    assert any(not torch.equal(value, trained.network.head.state_dict()[name]) for name, value in up.items())  # it learned
