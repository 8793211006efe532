"""Zimmermann & Brox's lifting: the canonical codec, PosePrior/ViewPoint, the lifting estimator
(3D back in the image's frame from turned and mirrored crops, losses, freezing, weights files,
one epoch of training from 2D weights) and the ground-truth vs predicted score-map table."""

import math
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from handpose.codecs import Canonical3DCodec, GaussianHeatmapCodec
from handpose.data.augment import AugmentConfig, evaluation_crop_box
from handpose.data.pipeline import HandPoseDataset
from handpose.estimators import ESTIMATORS, CropSpec, Estimator, build_estimator
from handpose.evaluation.lifting_table import ROW_TITLES, format_lifting_table, lifting_table
from handpose.geometry.canonical import MIDDLE_MCP, MIDDLE_PIP, PINKY_MCP
from handpose.geometry.crop import CropBox, crop_affine, crop_sample
from handpose.geometry.fit_3d import hand_size, mean_hand_size
from handpose.inference.weights import load_estimator, save_weights
from handpose.metrics.alignment import root_relative
from handpose.models.pose_prior import PosePrior, PosePriorViewPoint, ViewPoint, axis_angle_to_matrix
from handpose.skeleton import NUM_JOINTS
from handpose.structures import HandPrediction
from handpose.train.config import config_from_dict
from handpose.train.run import train

from test_bone_vectors import hand_3d_sample

INPUT = 64
HEATMAP = INPUT // 4
TINY_NETWORK = {"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 8}
TINY_CODEC = {"input_size": INPUT, "sigma": 1.5}


def tiny_estimator(**lifting):
    return build_estimator("lifting_3d", network=TINY_NETWORK, codec=TINY_CODEC, lifting={"width": 0.125, **lifting})


def phalanx(keypoints_3d):
    """The canonical frame's unit: the middle finger's MCP-PIP length."""
    return np.linalg.norm(keypoints_3d[MIDDLE_PIP] - keypoints_3d[MIDDLE_MCP])


def batch_of(estimator, crops):
    """A batch of cropped samples as the Dataset encodes them (every declared target)."""
    def stacked(codec):
        items = [
            codec.encode_crop(crop) if hasattr(codec, "encode_crop") else codec.encode(crop.keypoints_2d, crop.visibility)
            for crop in crops
        ]
        return {key: torch.from_numpy(np.stack([item[key] for item in items])) for key in items[0]}

    return {
        "targets": {name: stacked(codec) for name, codec in estimator.targets.items()},
        "keypoints": torch.from_numpy(np.stack([c.keypoints_2d for c in crops])).float(),
        "visibility": torch.from_numpy(np.stack([c.visibility for c in crops])),
    }


def exact_outputs(batch):
    """Lifter outputs equal to the batch's canonical targets, beside empty heatmaps."""
    target = batch["targets"]["canonical"]
    count = len(target["coords"])
    return {
        "heatmaps": torch.zeros(count, NUM_JOINTS, HEATMAP, HEATMAP),
        "canonical": target["coords"].clone(),
        "rotation": target["rotation"].clone(),
    }


BOXES = [
    CropBox((80.0, 80.0), 120.0),
    CropBox((80.0, 80.0), 120.0, flip=True),
    CropBox((75.0, 85.0), 110.0, rotation=40.0, flip=True),
    CropBox((82.0, 78.0), 130.0, rotation=-70.0),
]


# -- the canonical codec ------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["left", "right"])
def test_encoding_then_composing_gives_the_crops_root_relative_3d_up_to_scale(side):
    sample = hand_3d_sample(3, side)
    codec = Canonical3DCodec()
    coords = []
    for box in BOXES:
        crop = crop_sample(sample, box, INPUT)
        target = codec.encode_crop(crop)
        assert {key: value.dtype for key, value in target.items()} == dict.fromkeys(target, np.float32)
        assert target["valid"] == 1.0 and np.all(target["weights"] == 1.0)
        assert target["right"] == float(crop.hand_side == "right")
        assert np.linalg.det(target["rotation"]) == pytest.approx(1.0, abs=1e-5)
        relative = root_relative(crop.keypoints_3d)
        composed = codec.decode(target["coords"], target["rotation"], crop.hand_side) * phalanx(crop.keypoints_3d)
        assert np.abs(composed - relative).max() < 1e-4  # mm
        coords.append(target["coords"])
    # one hand, one shape: plain, turned and mirrored crops share canonical coordinates (a
    # mirrored crop shows the other side, which the frame mirrors back)
    for other in coords[1:]:
        assert np.allclose(other, coords[0], atol=1e-5)
    # the frame of their code: the middle MCP on -y, the pinky MCP in the xy plane at x > 0
    assert coords[0][MIDDLE_MCP, 0] == pytest.approx(0.0, abs=1e-6) and coords[0][MIDDLE_MCP, 1] < 0
    assert coords[0][PINKY_MCP, 2] == pytest.approx(0.0, abs=1e-6) and coords[0][PINKY_MCP, 0] > 0
    assert np.linalg.norm(coords[0][MIDDLE_PIP] - coords[0][MIDDLE_MCP]) == pytest.approx(1.0, abs=1e-6)


def test_crops_without_a_frame_give_zero_weights():
    sample = hand_3d_sample(4)
    codec = Canonical3DCodec()
    visibility = sample.visibility.copy()
    visibility[NUM_JOINTS - 1] = 0  # the pinky tip: its coordinates alone are unknown
    partial = codec.encode_crop(replace(sample, visibility=visibility))
    assert partial["valid"] == 1.0 and partial["weights"].sum() == NUM_JOINTS - 1 and partial["weights"][-1] == 0
    assert np.all(partial["coords"][-1] == 0)
    visibility[PINKY_MCP] = 0
    for no_frame in (
        replace(sample, visibility=visibility),  # a joint the frame is built from is unlabelled
        replace(sample, keypoints_3d=None),  # 2D-only data
        replace(sample, hand_side=None),  # no side, no canonical frame
    ):
        target = codec.encode_crop(no_frame)
        assert target["valid"] == 0.0 and target["weights"].sum() == 0 and np.all(target["coords"] == 0)
        assert np.array_equal(target["rotation"], np.eye(3, dtype=np.float32))


def test_augmented_dataset_targets_compose_back_to_its_3d_targets():
    samples = [hand_3d_sample(seed, side) for seed, side in ((5, "left"), (6, "right"))]
    targets = {"canonical": Canonical3DCodec()}
    augment = AugmentConfig(rotation_degrees=90.0)
    dataset = HandPoseDataset(samples, targets, INPUT, augment=augment, seed=1)
    for index in range(len(dataset)):
        target = {key: value.numpy().astype(np.float64) for key, value in dataset[index]["targets"]["canonical"].items()}
        assert target["right"] == 1.0  # flip_to_right: every crop shows a right hand
        composed = Canonical3DCodec.decode(target["coords"], target["rotation"], "right")
        truth = target["keypoints_3d"]
        assert np.abs(composed * phalanx(truth) - truth).max() < 1e-3


# -- the networks -------------------------------------------------------------------------------


def test_axis_angles_turn_into_rodrigues_matrices_with_finite_gradients_at_the_identity():
    vectors = torch.randn(6, 3, dtype=torch.float64)
    vectors[0] = 0.0
    matrices = axis_angle_to_matrix(vectors)
    for vector, matrix in zip(vectors, matrices):
        assert np.allclose(matrix.numpy(), cv2.Rodrigues(vector.numpy())[0], atol=1e-12)
    zero = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (zero,))
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (torch.randn(2, 3, dtype=torch.float64, requires_grad=True),))


def test_the_paper_sized_networks_take_32x32_maps_and_the_hand_side(seeded_one_thread_torch):
    maps, right = torch.rand(2, NUM_JOINTS, 32, 32), torch.tensor([0.0, 1.0])
    lifter = PosePriorViewPoint().eval()
    outputs = lifter(maps, right)
    assert outputs["canonical"].shape == (2, NUM_JOINTS, 3) and outputs["axis_angle"].shape == (2, 3)
    assert torch.allclose(outputs["rotation"], axis_angle_to_matrix(outputs["axis_angle"]))
    assert not torch.allclose(lifter(maps, 1.0 - right)["canonical"], outputs["canonical"])  # the side matters
    counts = [sum(p.numel() for p in net.parameters()) for net in (PosePrior(), ViewPoint())]
    assert 1.5e6 < counts[0] < 1.8e6 and 2.1e6 < counts[1] < 2.4e6  # FC 2050-512-512-63, 4098-256-128-3


# -- the estimator ------------------------------------------------------------------------------


def test_the_estimator_is_registered_declares_its_targets_and_checks_its_settings(seeded_one_thread_torch):
    estimator = tiny_estimator()
    assert ESTIMATORS["lifting_3d"] is type(estimator)
    assert set(estimator.targets) == {"heatmaps", "canonical"}
    assert isinstance(estimator.targets["canonical"], Canonical3DCodec)
    outputs = estimator(torch.zeros(2, 3, INPUT, INPUT))
    assert outputs["heatmaps"].shape == (2, NUM_JOINTS, HEATMAP, HEATMAP)
    assert outputs["canonical"].shape == (2, NUM_JOINTS, 3) and outputs["rotation"].shape == (2, 3, 3)
    resized = tiny_estimator(map_size=32)
    assert resized.lifter.map_size == 32 and resized(torch.zeros(1, 3, INPUT, INPUT))["canonical"].shape == (1, 21, 3)
    for bad in ({"lift_from": "both"}, {"width": 0}, {"dropout": 1.0}, {"hand_size_mm": -1.0}, {"depth": 3}):
        with pytest.raises(ValueError, match="estimator.lifting"):
            tiny_estimator(**bad)
    with pytest.raises(ValueError, match="flip_to_right"):
        build_estimator("lifting_3d", network=TINY_NETWORK, codec=TINY_CODEC, crop={"flip_to_right": False})


def test_predicted_3d_returns_to_the_image_frame_from_turned_and_mirrored_crops(seeded_one_thread_torch):
    estimator = tiny_estimator()
    # Every crop shows a right hand, as flip_to_right crops do: right hands plain, left ones
    # mirrored. The mean hand's size is the estimator's.
    samples = [hand_3d_sample(7, "left" if box.flip else "right") for box in BOXES]
    crops = [crop_sample(sample, box, INPUT) for sample, box in zip(samples, BOXES)]
    outputs = exact_outputs(batch_of(estimator, crops))
    affines = np.stack([crop_affine(box, INPUT) for box in BOXES])
    predictions = estimator.predict(outputs, affines, np.array([box.flip for box in BOXES]))
    for prediction, sample in zip(predictions, samples):
        assert np.abs(prediction.keypoints_3d - root_relative(sample.keypoints_3d)).max() < 1e-3
    assert [p.hand_side for p in predictions] == ["right", "left", "left", "right"]
    sized = tiny_estimator(hand_size_mm=100.0).predict(outputs, affines, np.zeros(len(BOXES), bool))
    assert hand_size(sized[0].keypoints_3d) == pytest.approx(100.0)
    assert hand_size(predictions[0].keypoints_3d) == pytest.approx(mean_hand_size())


def test_losses_validation_figures_and_what_each_option_trains(seeded_one_thread_torch):
    sample = hand_3d_sample(8, "right")
    estimator = tiny_estimator()
    crops = [crop_sample(sample, box, INPUT) for box in (BOXES[0], BOXES[3])]  # right hands, as the crops show them
    batch = batch_of(estimator, crops)
    exact = exact_outputs(batch)
    coords_loss, rotation_loss = estimator.lifting_loss(exact, batch)
    assert coords_loss.item() == pytest.approx(0.0, abs=1e-10) and rotation_loss.item() == pytest.approx(0.0, abs=1e-10)
    turned = {**exact, "rotation": -exact["rotation"]}
    assert estimator.lifting_loss(turned, batch)[1].item() == pytest.approx(4 * 3.0, rel=1e-5)  # |2R|^2 = 4 * 3

    records = estimator.validation_records(exact, batch)
    assert records.shape == (2, 3 * NUM_JOINTS)
    metrics = estimator.validation_metrics(records, (0.0, 20.0))
    assert metrics["mpjpe_scale_mm"] < 1e-3 and metrics["auc_3d"] == 1.0
    assert {"epe_px", "auc", "mpjpe_scale_mm_gt_maps", "auc_3d_gt_maps"} <= set(metrics)

    batch["image"] = torch.randn(2, 3, INPUT, INPUT)

    def trained_parts(est):
        est.train()
        est.zero_grad()
        est.loss(est(batch["image"]), batch, epoch=0)["loss"].backward()
        return {part: any(p.grad is not None and p.grad.abs().sum() > 0 for p in getattr(est, part).parameters())
                for part in ("network", "lifter")}

    assert trained_parts(estimator) == {"network": True, "lifter": True}  # heatmaps train the network
    frozen = tiny_estimator(freeze_2d=True)
    assert trained_parts(frozen) == {"network": False, "lifter": True}
    assert not frozen.network.training and frozen.lifter.training  # frozen batch-norm statistics
    # from predicted maps, the 3D loss reaches the network only when not detached
    undetached = tiny_estimator(lift_from="predicted", detach_predicted=False)
    undetached.train()
    outputs = undetached(batch["image"])
    undetached.zero_grad()
    sum(undetached.lifting_loss(outputs, batch)).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in undetached.network.parameters())
    detached = tiny_estimator(lift_from="predicted")
    outputs = detached(batch["image"])
    sum(detached.lifting_loss(outputs, batch)).backward()
    assert all(p.grad is None for p in detached.network.parameters())

    for target in batch["targets"]["canonical"].values():
        target.zero_()  # no 3D labels at all: nothing to learn, nothing to measure
    terms = estimator.loss(estimator(batch["image"]), batch, epoch=0)
    assert terms["coords_loss"].item() == 0.0 and terms["rotation_loss"].item() == 0.0
    empty = estimator.validation_metrics(estimator.validation_records(exact, batch), (0.0, 20.0))
    assert all(math.isnan(empty[name]) for name in ("mpjpe_scale_mm", "auc_3d", "auc_3d_gt_maps"))


def test_a_weights_file_rebuilds_the_estimator_with_its_lifter(tmp_path, seeded_one_thread_torch):
    estimator = tiny_estimator(hand_size_mm=90.0, lift_from="predicted").eval()
    loaded = load_estimator(save_weights(estimator, tmp_path / "lifting.pt"))
    assert loaded.lifting == estimator.lifting and loaded.spec() == estimator.spec()
    images = torch.randn(2, 3, INPUT, INPUT)
    with torch.no_grad():
        expected, got = estimator(images), loaded(images)
    for key in ("heatmaps", "canonical", "rotation"):
        assert torch.allclose(expected[key], got[key], atol=1e-2), key


def test_one_epoch_from_2d_weights_trains_the_lifter_alone(tmp_path, seeded_one_thread_torch):
    weights_2d = save_weights(build_estimator("heatmap_2d", network=TINY_NETWORK, codec=TINY_CODEC), tmp_path / "2d.pt")
    config = config_from_dict(
        {
            "name": "lifting3d-tiny",
            "init_from": str(weights_2d),
            "data": {
                "train": [{"format": "synth", "count": 8, "seed": 1, "size": 64}],
                "val": [{"format": "synth", "count": 4, "seed": 2, "size": 64}],
                "cache_dir": str(tmp_path / "cache"),
                "batch_size": 4,
                "workers": 0,
            },
            "model": TINY_NETWORK,
            "estimator": {"name": "lifting_3d", "lifting": {"width": 0.125, "freeze_2d": True}},
            "codec": TINY_CODEC,
            "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "enable_progress_bar": False},
            "output_dir": str(tmp_path / "run"),
        }
    )
    before = load_estimator(weights_2d).network.state_dict()
    result = train(config)
    names = ("train_coords_loss", "train_rotation_loss", "val_mpjpe_scale_mm", "val_auc_3d", "val_auc_3d_gt_maps")
    for name in names + ("val_epe_px",):
        assert math.isfinite(result.metrics[name]), name
    after = result.estimator.network.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before)  # weights and batch-norm statistics
    assert load_estimator(result.last_checkpoint).lifting == result.estimator.lifting


# -- the table ----------------------------------------------------------------------------------


class OracleLifter(Estimator):
    """A stand-in lifter: the true 3D from ground-truth maps, nothing (a miss) from predicted
    ones; it checks that the maps it is fed are the crops' Gaussian targets."""

    name = "oracle"

    def __init__(self, samples):
        super().__init__(CropSpec(INPUT), {})
        self.codec = GaussianHeatmapCodec(INPUT, HEATMAP, 1.5)
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # a device to run on
        self.samples = samples
        self.affines = [crop_affine(evaluation_crop_box(s, self.crop.padding, True), INPUT) for s in samples]
        self.fed = 0

    @property
    def targets(self):
        return {"heatmaps": self.codec}

    def forward(self, images):
        return {"route": "predicted"}

    def lift_ground_truth(self, batch):
        maps = batch["targets"]["heatmaps"]["heatmaps"]
        expected = self.codec.encode(batch["keypoints"].numpy(), batch["visibility"].numpy())["heatmaps"]
        assert np.allclose(maps.numpy(), expected, atol=1e-5)  # up to the float32 keypoints of the batch
        self.fed += len(maps)
        return {"route": "ground_truth"}

    def predict(self, outputs, affines, flipped, finder="", hand_scores=None):
        predictions = []
        for affine in affines:
            sample = next(s for s, a in zip(self.samples, self.affines) if np.allclose(a, affine))
            truth = root_relative(sample.keypoints_3d)
            predictions.append(
                HandPrediction(
                    box=np.asarray(sample.box), keypoints=sample.keypoints_2d, keypoint_scores=np.ones(NUM_JOINTS),
                    keypoints_3d=truth if outputs["route"] == "ground_truth" else np.full_like(truth, np.nan),
                )
            )
        return predictions


def test_the_table_scores_3d_from_ground_truth_and_from_predicted_maps():
    samples = [hand_3d_sample(seed, side) for seed, side in ((10, "left"), (11, "right"), (12, "left"))]
    without_3d = replace(samples[0], keypoints_3d=None, sample_id="no-3d")
    oracle = OracleLifter(samples)
    table = lifting_table(oracle, samples + [without_3d], batch_size=2)
    assert oracle.fed == 3 and table["num_hands"] == 3 and table["skipped_without_3d"] == 1
    assert table["auc_20_50_mm"] == {"ground_truth": 1.0, "predicted": 0.0}
    assert table["ground_truth"]["summary"]["scale_aligned_mean_mm"] == pytest.approx(0.0, abs=1e-9)
    text = format_lifting_table(table)
    assert all(title in text for title in ROW_TITLES.values()) and "AUC 20-50 mm" in text
    with pytest.raises(ValueError, match="3D keypoints"):
        lifting_table(oracle, [without_3d])


def test_the_table_runs_a_real_lifting_estimator(seeded_one_thread_torch):
    samples = [hand_3d_sample(seed, side) for seed, side in ((13, "left"), (14, "right"))]
    table = lifting_table(tiny_estimator(), samples)
    assert table["num_hands"] == 2 and set(table["auc_20_50_mm"]) == {"ground_truth", "predicted"}
    assert all(0.0 <= value <= 1.0 for value in table["auc_20_50_mm"].values())
    assert table["predicted"]["root_relative"]["num_images"] == 2
