"""The hand detector: its Dataset of whole images, training through handpose.train, weights,
detection in image pixels, validation figures and the pycocotools evaluation."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from handpose.codecs import BoxCenterCodec
from handpose.data.augment import AugmentConfig
from handpose.data.detection_pipeline import MAX_HANDS_PER_IMAGE, HandDetectionDataset, group_by_image
from handpose.data.pipeline import HandPoseDataset
from handpose.data.readers import read_dataset
from handpose.estimators import HandDetector, HeatmapEstimator, build_estimator
from handpose.estimators.hand_detector import HandBox, average_precision
from handpose.evaluation.detection import coco_box_ap, evaluate_detector, operating_point
from handpose.inference.weights import load_estimator, save_weights
from handpose.structures import HandPrediction
from handpose.synth import generate_dataset
from handpose.train.build import build_estimator_from_config
from handpose.train.config import ConfigError, config_from_dict, load_config
from handpose.train.run import train

DETECTOR_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "detection" / "detector_synth.yaml"
TINY_NETWORK = {"name": "hand_detector_net", "widths": [8, 8, 16, 16, 16], "blocks": [0, 0, 1, 1, 1], "head_channels": 8}


def tiny_detector(**sections) -> HandDetector:
    return build_estimator("hand_detector", network=TINY_NETWORK, codec={"input_size": 64}, crop={"flip_to_right": False}, **sections)


def synth_source(count: int, seed: int) -> dict:
    return {"format": "synth", "scene_kind": "detection", "count": count, "seed": seed, "size": 64,
            "options": {"empty_images": True}}


def tiny_config(root: Path) -> dict:
    """A dozen 64-pixel detection scenes and a 22 K-parameter network: seconds per epoch."""
    return {
        "name": "tiny_detector",
        "data": {"train": [synth_source(12, 1)], "val": [synth_source(6, 2)], "cache_dir": str(root / "cache"),
                 "batch_size": 4, "workers": 0},
        "estimator": {"name": "hand_detector"},
        "model": TINY_NETWORK,
        "codec": {"input_size": 64},
        "crop": {"flip_to_right": False},
        "augment": {"flip_to_right": False, "scale_range": [0.7, 1.4], "rotation_degrees": 5.0},
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "log_every_n_steps": 1, "enable_progress_bar": False},
        "output_dir": str(root / "run"),
    }


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def detection_set(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("scenes"), 12, size=64, seed=4, progress=False, scene_kind="detection")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    config = config_from_dict(tiny_config(tmp_path_factory.mktemp("train")))
    return config, train(config)


def read_with_empty(path: Path) -> list:
    return read_dataset("coco", path, policy="skip", empty_images=True).samples


def test_dataset_items_are_whole_images_with_all_their_hands(detection_set):
    samples = read_with_empty(detection_set)
    codec = BoxCenterCodec(64, 4)
    dataset = HandDetectionDataset(samples, codec)
    assert len(dataset) == 12  # images, with or without hands
    images = group_by_image(samples)
    assert any(not entry.hands for entry in images)
    for index, entry in enumerate(images):
        item = dataset[index]
        assert item["image"].shape == (3, 64, 64)
        count = int(item["count"])
        assert count == len(entry.hands) and item["boxes"].shape == (MAX_HANDS_PER_IMAGE, 4)
        # The images are 64 pixels, as the input: the letterbox is the identity.
        np.testing.assert_allclose(item["boxes"][:count].numpy(), entry.boxes, atol=1e-4)
        assert torch.isnan(item["boxes"][count:]).all() and (item["sides"][count:] == -2).all()
        assert int(item["targets"]["centres"]["mask"].sum()) <= count


def test_mirroring_swaps_the_sides_and_mirrors_the_boxes(detection_set):
    samples = read_with_empty(detection_set)
    still = AugmentConfig(flip_to_right=False, scale_range=(1.0, 1.0), shift=0.0, rotation_degrees=0.0)
    plain = HandDetectionDataset(samples, BoxCenterCodec(64, 4))
    mirrored = HandDetectionDataset(samples, BoxCenterCodec(64, 4), still, flip_probability=1.0)
    index = next(i for i, entry in enumerate(group_by_image(samples)) if entry.hands)
    a, b = plain[index], mirrored[index]
    count = int(a["count"])
    assert bool(b["flipped"]) and int(b["count"]) == count
    boxes = a["boxes"][:count].numpy()
    np.testing.assert_allclose(b["boxes"][:count].numpy(), np.stack([63 - boxes[:, 2], boxes[:, 1], 63 - boxes[:, 0], boxes[:, 3]], 1), atol=1e-4)
    assert (b["sides"][:count] == 1 - a["sides"][:count]).all()


def test_the_default_training_dataset_crops_hands_with_the_estimators_targets():
    estimator = build_estimator("heatmap_2d", network={"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 8},
                                codec={"input_size": 64})
    dataset = estimator.training_dataset([], None, seed=3)
    assert isinstance(dataset, HandPoseDataset) and isinstance(estimator, HeatmapEstimator)
    assert (dataset.input_size, dataset.padding, dataset.flip_to_right, dataset.seed) == (64, 1.5, True, 3)
    assert set(dataset.targets) == {"heatmaps"}


def test_a_tiny_detector_trains_an_epoch_and_reports_box_figures(trained):
    _, result = trained
    assert isinstance(result.estimator, HandDetector)
    for name in ("val_loss", "train_heatmap_loss", "train_size_loss", "train_side_loss"):
        assert np.isfinite(result.metrics[name]), name
    for name in ("val_ap50", "val_recall50", "val_fp_per_image", "val_side_accuracy"):
        assert name in result.metrics


def test_weights_files_and_checkpoints_rebuild_the_detector(trained, tmp_path):
    _, result = trained
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = result.estimator(images)
    from_checkpoint = load_estimator(result.last_checkpoint)
    from_weights = load_estimator(save_weights(result.estimator, tmp_path / "detector.pt"))
    assert from_weights.spec() == result.estimator.spec() and not from_weights.crop.flip_to_right
    with torch.no_grad():
        for key, value in from_checkpoint(images).items():
            torch.testing.assert_close(value, expected[key], rtol=0, atol=0)
        for key, value in from_weights(images).items():  # fp16 weights
            torch.testing.assert_close(value, expected[key], rtol=0.05, atol=0.05)


def test_detect_reports_hands_in_each_images_own_pixels(trained):
    _, result = trained
    detector = result.estimator
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (90, 150, 3), dtype=np.uint8), rng.integers(0, 256, (300, 200, 3), dtype=np.uint8)]
    found = detector.detect(images, min_score=0.01)
    assert len(found) == 2
    for image, hands in zip(images, found):
        assert len(hands) <= detector.boxes["max_detections"]
        for hand in hands:
            assert isinstance(hand, HandBox) and hand.side in ("left", "right") and 0.5 <= hand.side_score <= 1.0
            x0, y0, x1, y1 = hand.box
            assert 0 <= x0 <= x1 <= image.shape[1] - 1 and 0 <= y0 <= y1 <= image.shape[0] - 1
        assert [hand.score for hand in hands] == sorted((hand.score for hand in hands), reverse=True)


def test_a_box_gives_its_side_to_the_pose_in_it():
    hand = HandBox(np.array([1.0, 2.0, 30.0, 40.0]), 0.9, "left", 0.8)
    pose = HandPrediction(box=hand.box, keypoints=np.zeros((21, 2)), keypoint_scores=np.ones(21), hand_side="right")
    joined = hand.with_pose(pose)
    assert (joined.hand_side, joined.hand_score, joined.finder) == ("left", 0.8, "detector")


def test_validation_figures_of_perfect_and_of_wrong_detections():
    detector = tiny_detector()
    codec = detector.codec
    boxes = np.array([[4.0, 4.0, 30.0, 28.0], [34.0, 30.0, 60.0, 62.0]])
    maps = codec.encode(boxes, ["left", "right"])
    logits = {key: torch.from_numpy(value)[None] for key, value in maps.items()}
    # Probabilities 0 and 1 as logits, for the heatmap and the side.
    outputs = {"heatmap": torch.logit(logits["heatmap"].clamp(1e-6, 1 - 1e-6)), "offset": logits["offset"],
               "size": logits["size"], "side": torch.logit(logits["side"].clamp(1e-6, 1 - 1e-6))}
    batch = {"count": torch.tensor([2]), "boxes": torch.from_numpy(np.pad(boxes, ((0, 14), (0, 0)), constant_values=np.nan))[None],
             "sides": torch.tensor([[0, 1] + [-2] * 14], dtype=torch.int8)}
    figures = detector.validation_metrics(detector.validation_records(outputs, batch), (0.0, 20.0))
    assert figures == {"ap50": 1.0, "recall50": 1.0, "fp_per_image": 0.0, "side_accuracy": 1.0}
    batch["sides"] = torch.tensor([[1, 0] + [-2] * 14], dtype=torch.int8)
    assert detector.validation_metrics(detector.validation_records(outputs, batch), (0.0, 20.0))["side_accuracy"] == 0.0
    assert average_precision(np.array([0.9, 0.8]), np.array([False, True]), 1) == pytest.approx(0.5)


def test_pycocotools_ap_of_perfect_detections_is_one():
    truth = [np.array([[10.0, 10.0, 50.0, 60.0], [100.0, 20.0, 140.0, 90.0]]), np.zeros((0, 4)), np.array([[5.0, 5.0, 25.0, 25.0]])]
    perfect = [[HandBox(box, 0.9, "left", 1.0) for box in boxes] for boxes in truth]
    assert coco_box_ap(truth, perfect) == (1.0, 1.0)
    shifted = [[HandBox(box + np.array([4.0, 0.0, 4.0, 0.0]), 0.9, "left", 1.0) for box in boxes] for boxes in truth]
    ap50, ap50_95 = coco_box_ap(truth, shifted)
    assert ap50 == 1.0 and ap50_95 < 0.9
    with_false = [found + [HandBox(np.array([0.0, 0.0, 5.0, 5.0]), 0.5, "right", 1.0)] for found in perfect]
    figures = operating_point(truth, [("left", "right"), (), (None,)], with_false, threshold=0.3)
    assert figures["recall50"] == 1.0 and figures["false_positives_per_image"] == 1.0
    assert figures["side_accuracy"] == 0.5 and (figures["images_with_hands"], figures["images_with_a_hand_found"]) == (2, 2)


def test_evaluation_runs_the_detector_on_whole_images(trained, detection_set):
    _, result = trained
    report = evaluate_detector(result.estimator, f"coco:{detection_set}")
    assert report["images"] == 12 and report["hands"] == sum(len(e.hands) for e in group_by_image(read_with_empty(detection_set)))
    for key in ("ap50", "ap50_95", "recall50", "false_positives_per_image", "side_accuracy", "images_with_a_hand_found"):
        assert key in report
    by_keypoints = evaluate_detector(result.estimator, f"coco:{detection_set}", gt_boxes="keypoints")
    assert by_keypoints["hands"] == report["hands"]


def test_eval_with_detector_weights_scores_the_whole_pipeline_on_whole_images(trained, detection_set, tmp_path, capsys):
    from handpose.cli.main import main

    _, result = trained
    detector = save_weights(result.estimator, tmp_path / "detector.pt")
    network = {"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 8}
    pose = save_weights(build_estimator("heatmap_2d", network=network, codec={"input_size": 64}), tmp_path / "pose.pt")
    out = tmp_path / "eval"
    assert main(["eval", str(pose), "--data", f"coco:{detection_set}", "--detector", str(detector), "--out", str(out)]) == 0
    (metrics,) = out.rglob("metrics.json")
    protocol = json.loads(metrics.read_text())["protocol"]
    assert protocol["finder"] == "detector" and protocol["images"] > 0 and "hands_found" in protocol
    capsys.readouterr()


def test_the_shipped_config_builds_and_its_loss_runs():
    config = load_config(DETECTOR_CONFIG)
    detector = build_estimator_from_config(config)
    boxes = np.array([[20.0, 30.0, 90.0, 120.0]])
    targets = {key: torch.from_numpy(value)[None] for key, value in detector.codec.encode(boxes, ["right"]).items()}
    with torch.no_grad():
        outputs = detector(torch.randn(1, 3, 256, 256))
        terms = detector.loss(outputs, {"targets": {"centres": targets}}, epoch=0)
    assert outputs["heatmap"].shape == (1, 1, 64, 64) and outputs["size"].shape == (1, 2, 64, 64)
    assert all(torch.isfinite(value) for value in terms.values())


@pytest.mark.parametrize(
    "override, message",
    [("crop.flip_to_right=true", "crop.flip_to_right"), ("codec.sigma=3", "codec.sigma"), ("model.name=unet", "model.name"),
     ("estimator.boxes.nms=0.3", "estimator.boxes.nms"), ("loss.heatmap=iou", "loss.heatmap")],
)
def test_config_mistakes_name_their_key(override, message):
    overrides = [override, "augment.flip_to_right=true"] if override.startswith("crop.") else [override]
    with pytest.raises(ConfigError, match=message):
        build_estimator_from_config(load_config(DETECTOR_CONFIG, overrides))
