"""HandSegNet: the mask codec, the Dataset of whole images with their masks (mirrors swap the sides,
masks follow the image's warp), the hands of the largest components, training through
handpose.train, weights, mask IoU, and the segmentation network as the Predictor's hand finder."""

from pathlib import Path

import numpy as np
import pytest
import torch

from handpose.codecs.hand_masks import (
    BACKGROUND,
    LEFT,
    RIGHT,
    HandMaskCodec,
    iou_counts,
    iou_figures,
    mirror_labels,
    rhd_labels,
)
from handpose.codecs.image_normalization import IMAGE_MEAN, IMAGE_STD
from handpose.data.augment import AugmentConfig
from handpose.data.detection_pipeline import warp_to_input, whole_image_box
from handpose.data.segmentation_pipeline import HandSegmentationDataset, warp_labels
from handpose.estimators import HandSegNet, build_estimator
from handpose.estimators.hand_segnet import FINDER, SegmentedHand, largest_components
from handpose.evaluation.segmentation import evaluate_segmentation
from handpose.geometry.camera import apply_affine
from handpose.geometry.crop import box_around
from handpose.inference.predictor import Predictor
from handpose.inference.weights import load_estimator, save_weights
from handpose.skeleton import NUM_JOINTS
from handpose.structures import HandPrediction, HandSample
from handpose.synth import generate_dataset
from handpose.train.build import build_estimator_from_config
from handpose.train.config import ConfigError, config_from_dict, load_config
from handpose.train.run import train

from geometry_reading import IMAGE_HEIGHT, IMAGE_WIDTH, GeometryReadingEstimator, _interior, coordinate_image

SEGNET_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "segmentation" / "handsegnet_synth.yaml"
TINY_NETWORK = {"name": "hand_segnet", "widths": [8, 8, 16, 16, 16], "blocks": [0, 0, 1, 1, 1], "decoder_channels": 8}
#: Geometry only: every photometric change off, so pixels keep the values the warp gives them.
NO_PHOTOMETRY = {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.0, "blur_probability": 0.0, "noise_std": 0.0}
#: RHD classes: a left hand's palm, a right hand's fingertip, and the person (not a hand).
RHD_LEFT, RHD_RIGHT, RHD_PERSON = 17, 18, 1


def tiny_segnet(**sections) -> HandSegNet:
    return build_estimator("hand_segnet", network=TINY_NETWORK, codec={"input_size": 64}, crop={"flip_to_right": False},
                           **sections)


def rhd_source(root: Path, split: str) -> dict:
    return {"format": "rhd", "path": str(root), "split": split, "options": {"image_size": 64, "min_visible_joints": 1}}


def mask_sample(image: np.ndarray, mask: np.ndarray) -> HandSample:
    """A sample of an in-memory image and mask (the hand's keypoints do not matter here)."""
    return HandSample(image=image, keypoints_2d=np.zeros((NUM_JOINTS, 2)), visibility=np.zeros(NUM_JOINTS, np.int8),
                      hand_side="left", box=np.array([0.0, 0.0, 10.0, 10.0]), source="test", sample_id="0", mask=mask)


def pixels_of(item: dict) -> np.ndarray:
    """An item's normalised image back to uint8 (H, W, 3)."""
    image = item["image"].numpy() * np.array(IMAGE_STD)[:, None, None] + np.array(IMAGE_MEAN)[:, None, None]
    return np.round(image * 255.0).clip(0, 255).astype(np.uint8).transpose(1, 2, 0)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def rhd_set(tmp_path_factory) -> Path:
    """Eight training and four evaluation pictures of 64 pixels in RHD's layout, with masks."""
    root = tmp_path_factory.mktemp("rhd")
    generate_dataset(root, 8, size=64, seed=1, format="rhd", split="train", progress=False)
    generate_dataset(root, 4, size=64, seed=2, format="rhd", split="test", progress=False)
    return root


@pytest.fixture(scope="module")
def trained(rhd_set, tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    config = config_from_dict({
        "name": "tiny_segnet",
        "data": {"train": [rhd_source(rhd_set, "training")], "val": [rhd_source(rhd_set, "evaluation")],
                 "batch_size": 4, "workers": 0},
        "estimator": {"name": "hand_segnet"},
        "model": TINY_NETWORK,
        "codec": {"input_size": 64},
        "crop": {"flip_to_right": False},
        "augment": {"flip_to_right": False, "scale_range": [0.8, 1.25]},
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "log_every_n_steps": 1, "enable_progress_bar": False},
        "output_dir": str(root / "run"),
    })
    return train(config)


def test_rhd_classes_become_sides_and_a_mirror_swaps_them():
    mask = np.array([[0, RHD_PERSON, 2, RHD_LEFT, RHD_RIGHT, 33, 34]])
    labels = rhd_labels(mask)
    assert labels.tolist() == [[BACKGROUND, BACKGROUND, LEFT, LEFT, RIGHT, RIGHT, BACKGROUND]]
    assert mirror_labels(labels).tolist() == [[BACKGROUND, BACKGROUND, RIGHT, RIGHT, LEFT, LEFT, BACKGROUND]]


@pytest.mark.parametrize("sides", [True, False])
def test_codec_round_trip(sides):
    codec = HandMaskCodec(64, 4, sides=sides)
    rng = np.random.default_rng(0)
    cells = rng.integers(0, 3, (16, 16)).astype(np.uint8)
    labels = np.kron(cells, np.ones((4, 4), np.uint8))
    fractions = codec.encode(labels)["fractions"]
    classes = codec.class_labels(cells)
    assert fractions.shape == (codec.classes, 16, 16) and fractions.dtype == np.float32
    np.testing.assert_array_equal(fractions, (classes[None] == np.arange(codec.classes)[:, None, None]).astype(np.float32))
    # A cell shared by two classes holds their shares.
    split = labels.copy()
    split[:4, :1] = RIGHT
    split[:4, 1:4] = BACKGROUND
    assert codec.encode(split)["fractions"][:, 0, 0].tolist() == ([0.75, 0.0, 0.25] if sides else [0.75, 0.25])
    # Decoding confident logits gives the labels back wherever a cell's neighbours share its class.
    probabilities = codec.probabilities(torch.from_numpy(10.0 * fractions)[None])[0].numpy()
    assert probabilities.shape == (codec.classes, 64, 64)
    np.testing.assert_allclose(probabilities.sum(axis=0), 1.0, atol=1e-5)
    decoded = codec.labels(probabilities)
    padded = np.pad(classes, 1, mode="edge")
    uniform = np.all([padded[1 + dy:17 + dy, 1 + dx:17 + dx] == classes for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
    inside = np.kron(uniform, np.ones((4, 4), bool))
    np.testing.assert_array_equal(decoded[inside], codec.class_labels(labels)[inside])
    masks = codec.masks(decoded)
    assert sorted(masks) == (["left", "right"] if sides else ["hand"])
    assert all(mask.dtype == bool for mask in masks.values())


def test_probabilities_return_to_the_images_own_pixels():
    """Through the letterbox and back: a non-square image's masks land where they were."""
    codec = HandMaskCodec(64, 4)
    labels = np.zeros((60, 90), np.uint8)
    labels[10:40, 8:30] = LEFT
    labels[20:50, 55:85] = RIGHT
    _, affine = warp_to_input(np.zeros((60, 90, 3), np.uint8), whole_image_box(90, 60), 64)
    fractions = codec.encode(warp_labels(labels, affine, 64))["fractions"]
    inside = codec.probabilities(torch.from_numpy(10.0 * fractions)[None])[0].numpy()
    back = codec.to_image(inside, affine, 90, 60)
    assert back.shape == (3, 60, 90)
    np.testing.assert_allclose(back.sum(axis=0), 1.0, atol=1e-5)
    decoded = codec.labels(back)
    assert np.mean(decoded == labels) > 0.97  # edges move by up to a cell (4 input pixels, 5.6 image pixels)
    assert (decoded[15:35, 13:25] == LEFT).all() and (decoded[25:45, 60:80] == RIGHT).all()
    assert (decoded[:, 35:50] == BACKGROUND).all()


def test_iou_counts_per_class_and_for_the_whole_hand():
    truth = np.array([[0, 1, 1, 2]])
    predicted = np.array([[0, 1, 2, 2]])
    counts = iou_counts(predicted, truth, sides=True)
    assert counts.tolist() == [[1, 1], [1, 2], [1, 2], [3, 3]]
    figures = iou_figures(counts, sides=True)
    assert figures == {"iou_background": 1.0, "iou_left": 0.5, "iou_right": 0.5, "iou_hand": 1.0, "miou": pytest.approx(2 / 3)}
    assert np.isnan(iou_figures(iou_counts(np.zeros((2, 2)), np.zeros((2, 2)), sides=False), sides=False)["iou_hand"])


def test_a_mirror_swaps_the_sides_of_the_mask():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[5:30, 4:20] = RHD_LEFT
    mask[30:60, 35:60] = RHD_RIGHT
    mask[0:5, :] = RHD_PERSON
    still = AugmentConfig(flip_to_right=False, scale_range=(1.0, 1.0), shift=0.0, rotation_degrees=0.0, **NO_PHOTOMETRY)
    codec = HandMaskCodec(64, 4)
    plain = HandSegmentationDataset([mask_sample(image, mask)], codec)[0]
    mirrored = HandSegmentationDataset([mask_sample(image, mask)], codec, still, flip_probability=1.0)[0]
    assert not bool(plain["flipped"]) and bool(mirrored["flipped"])
    np.testing.assert_array_equal(plain["labels"].numpy(), rhd_labels(mask))
    np.testing.assert_array_equal(pixels_of(mirrored), pixels_of(plain)[:, ::-1])
    np.testing.assert_array_equal(mirrored["labels"].numpy(), mirror_labels(rhd_labels(mask)[:, ::-1]))
    shares, mirrored_shares = plain["targets"]["masks"]["fractions"], mirrored["targets"]["masks"]["fractions"]
    torch.testing.assert_close(mirrored_shares[[0, 2, 1]].flip(-1), shares)


def test_masks_follow_the_image_warp_exactly():
    """The image holds its own coordinates (red x, green y): each input pixel's label must be the
    mask's at the image pixel it shows, through random zooms, shifts, turns and mirrors."""
    image = coordinate_image(0)
    rng = np.random.default_rng(2)
    mask = np.kron(rng.choice([0, RHD_PERSON, RHD_LEFT, RHD_RIGHT], (20, 25)), np.ones((8, 8), np.uint8))
    assert mask.shape == (IMAGE_HEIGHT, IMAGE_WIDTH)
    augment = AugmentConfig(flip_to_right=False, scale_range=(0.8, 1.25), shift=0.1, rotation_degrees=30.0, **NO_PHOTOMETRY)
    dataset = HandSegmentationDataset([mask_sample(image, mask)], HandMaskCodec(192, 4), augment, seed=3)
    labels = rhd_labels(mask)
    padded = np.pad(labels, 1, mode="edge")
    uniform = np.all([padded[1 + dy:IMAGE_HEIGHT + 1 + dy, 1 + dx:IMAGE_WIDTH + 1 + dx] == labels
                      for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
    flips = set()
    for epoch in range(6):
        dataset.set_epoch(epoch)
        item = dataset[0]
        pixels = pixels_of(item)
        shown = _interior(pixels[..., 2] == pixels[..., 2].max())  # away from the black border's blend
        x, y = pixels[..., 0][shown].astype(int), pixels[..., 1][shown].astype(int)  # rounded image coordinates
        expected = labels[y, x]
        if bool(item["flipped"]):
            expected = mirror_labels(expected)
        got = item["labels"].numpy()[shown]
        # Exactly where the pixel's neighbours share its label; elsewhere only a half-pixel tie can differ.
        np.testing.assert_array_equal(got[uniform[y, x]], expected[uniform[y, x]])
        assert np.mean(got == expected) > 0.99
        # The item's affine is the warp's: it carries each image pixel to the input pixel that shows it.
        where = np.argwhere(shown)[:, ::-1]
        np.testing.assert_allclose(apply_affine(np.stack([x, y], 1).astype(float), item["affine"].numpy()), where, atol=1.0)
        flips.add(bool(item["flipped"]))
    assert flips == {True, False}


def test_an_image_without_a_mask_is_named():
    sample = mask_sample(np.zeros((32, 32, 3), np.uint8), None)
    with pytest.raises(ValueError, match="sample '0' and 0 more image.*no mask"):
        HandSegmentationDataset([sample], HandMaskCodec(32, 4))


def test_the_largest_component_of_each_side_is_a_hand():
    height, width = 60, 80
    probabilities = np.zeros((3, height, width), np.float32)
    probabilities[BACKGROUND] = 1.0

    def paint(rows: slice, cols: slice, left: float, right: float) -> None:
        probabilities[:, rows, cols] = np.array([1.0 - left - right, left, right])[:, None, None]

    paint(slice(5, 25), slice(5, 20), 0.7, 0.2)  # left, 300 pixels
    paint(slice(40, 45), slice(5, 15), 0.8, 0.1)  # left, smaller: dropped
    paint(slice(30, 50), slice(40, 50), 0.45, 0.35)  # one component of two sides, mostly right by probability:
    paint(slice(30, 50), slice(50, 70), 0.1, 0.6)  # 200 pixels most probably left, 400 right
    paint(slice(2, 3), slice(75, 77), 0.0, 0.9)  # a speck of 2 pixels: below min_area
    hands = largest_components(probabilities, sides=True, min_area=5e-4)
    assert [hand.side for hand in hands] == ["left", "right"]  # best score first
    by_side = {hand.side: hand for hand in hands}
    np.testing.assert_array_equal(by_side["left"].box, [5, 5, 19, 24])
    np.testing.assert_array_equal(by_side["right"].box, [40, 30, 69, 49])
    assert by_side["left"].mask.sum() == 300 and by_side["right"].mask.sum() == 600
    assert by_side["left"].score == pytest.approx(0.9) and by_side["left"].side_score == pytest.approx(0.7 / 0.9)
    assert by_side["right"].side_score == pytest.approx((200 * 0.35 + 400 * 0.6) / (200 * 0.8 + 400 * 0.7))
    assert by_side["right"].score == pytest.approx((200 * 0.8 + 400 * 0.7) / 600)
    # The crop is the square around the component, enlarged (here by the pose estimators' 1.5).
    crop = box_around(by_side["right"].box, 1.5)
    assert crop.center == (54.5, 39.5) and crop.size == pytest.approx(1.5 * 29)
    # Without sides: the largest component of all. A higher floor drops the smaller hand.
    (only,) = largest_components(np.stack([probabilities[0], probabilities[1] + probabilities[2]]), sides=False)
    assert only.side is None and only.side_score == 0.5 and only.mask.sum() == 600
    assert len(largest_components(probabilities, sides=True, min_area=350 / (height * width))) == 1


def test_a_hand_found_by_segmentation_gives_the_pose_its_side_and_mask():
    mask = np.zeros((4, 4), bool)
    hand = SegmentedHand(np.array([1.0, 2.0, 3.0, 3.0]), 0.9, "left", 0.8, mask)
    pose = HandPrediction(box=hand.box, keypoints=np.zeros((21, 2)), keypoint_scores=np.ones(21), hand_side="right")
    joined = hand.with_pose(pose)
    assert (joined.hand_side, joined.hand_score, joined.finder) == ("left", 0.8, FINDER) and joined.mask is mask


def test_a_tiny_segnet_trains_an_epoch_and_reports_mask_iou(trained):
    assert isinstance(trained.estimator, HandSegNet)
    assert np.isfinite(trained.metrics["val_loss"]) and np.isfinite(trained.metrics["train_loss"])
    for name in ("val_iou_background", "val_iou_left", "val_iou_right", "val_iou_hand", "val_miou"):
        assert name in trained.metrics


def test_weights_files_and_checkpoints_rebuild_the_segnet(trained, tmp_path):
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = trained.estimator(images)["logits"]
        from_checkpoint = load_estimator(trained.last_checkpoint)
        from_weights = load_estimator(save_weights(trained.estimator, tmp_path / "segnet.pt"))
        assert from_weights.spec() == trained.estimator.spec() and isinstance(from_weights, HandSegNet)
        torch.testing.assert_close(from_checkpoint(images)["logits"], expected, rtol=0, atol=0)
        torch.testing.assert_close(from_weights(images)["logits"], expected, rtol=0.05, atol=0.05)  # fp16 weights


def test_segment_and_find_hands_in_each_images_own_pixels(trained):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (90, 150, 3), dtype=np.uint8), rng.integers(0, 256, (300, 200, 3), dtype=np.uint8)]
    segnet = trained.estimator
    for image, found in zip(images, segnet.segment(images)):
        assert found.probabilities.shape == (3,) + image.shape[:2]
        np.testing.assert_allclose(found.probabilities.sum(axis=0), 1.0, atol=1e-4)
        assert sorted(found.masks) == ["left", "right"] and found.masks["left"].shape == image.shape[:2]
        assert not (found.masks["left"] & found.masks["right"]).any()
    for image, hands in zip(images, segnet.detect(images)):
        assert len(hands) <= 2 and len({hand.side for hand in hands}) == len(hands)
        for hand in hands:
            x0, y0, x1, y1 = hand.box
            assert 0 <= x0 < x1 <= image.shape[1] and 0 <= y0 < y1 <= image.shape[0]
            assert hand.mask.shape == image.shape[:2] and 0.5 <= hand.side_score <= 1.0
    assert len(segnet.find_hands(images[0])) == len(segnet.detect(images[:1])[0])


def test_evaluation_scores_masks_on_a_synthetic_split(trained, rhd_set):
    report = evaluate_segmentation(trained.estimator, f"rhd:{rhd_set}?split=evaluation&image_size=64&min_visible_joints=1")
    assert report["images"] == 4
    for key in ("iou_background", "iou_left", "iou_right", "iou_hand", "miou", "mean_image_iou_hand"):
        assert key in report and (np.isnan(report[key]) or 0.0 <= report[key] <= 1.0)


def test_the_predictor_runs_the_pose_estimator_in_the_hands_segmentation_finds(tmp_path):
    """A segnet whose logits say "right hand" everywhere: one right hand, the whole image."""
    segnet = tiny_segnet()
    with torch.no_grad():
        segnet.network.predict.weight.zero_()
        segnet.network.predict.bias.copy_(torch.tensor([0.0, 0.0, 10.0]))
    rng = np.random.default_rng(4)
    truth = np.array([IMAGE_WIDTH / 2, IMAGE_HEIGHT / 2]) + rng.uniform(-30, 30, (NUM_JOINTS, 2))
    for detector in (segnet, save_weights(segnet, tmp_path / "segnet.pt")):
        predictor = Predictor(estimator=GeometryReadingEstimator(truth[None]), detector=detector, finder="segmentation")
        (found,) = predictor(coordinate_image(0))
        assert found.finder == FINDER and found.hand_side == "right" and found.hand_score > 0.99
        assert found.mask.shape == (IMAGE_HEIGHT, IMAGE_WIDTH) and found.mask.all()
        assert np.abs(found.keypoints - truth).max() < 0.5


def test_the_shipped_config_builds_and_its_loss_runs():
    config = load_config(SEGNET_CONFIG)
    segnet = build_estimator_from_config(config)
    assert isinstance(segnet, HandSegNet) and segnet.codec.grid_size == 64
    labels = np.zeros((256, 256), np.uint8)
    labels[40:120, 60:110] = LEFT
    shares = torch.from_numpy(segnet.codec.encode(labels)["fractions"])[None]
    with torch.no_grad():
        outputs = segnet(torch.randn(1, 3, 256, 256))
        loss = segnet.loss(outputs, {"targets": {"masks": {"fractions": shares}}}, epoch=0)["loss"]
    assert outputs["logits"].shape == (1, 3, 64, 64) and torch.isfinite(loss)


def test_class_balance_weighs_each_present_class_alike():
    """Balance 0 is the plain mean cross-entropy; 1 the mean over the classes present of each one's."""
    shares = torch.zeros(1, 3, 4, 4)
    shares[0, 0] = 1.0
    shares[0, :, 0, 0] = torch.tensor([0.0, 1.0, 0.0])  # one left cell of 16; no right hand
    logits = torch.randn(1, 3, 4, 4)
    cross_entropy = -(shares * torch.log_softmax(logits, dim=1)).sum(dim=1)[0]
    batch = {"targets": {"masks": {"fractions": shares}}}
    plain = tiny_segnet(training={"class_balance": 0.0}).loss({"logits": logits}, batch, epoch=0)["loss"]
    balanced = tiny_segnet(training={"class_balance": 1.0}).loss({"logits": logits}, batch, epoch=0)["loss"]
    torch.testing.assert_close(plain, cross_entropy.mean())
    torch.testing.assert_close(balanced, (cross_entropy[0, 0] + cross_entropy.flatten()[1:].mean()) / 2)


@pytest.mark.parametrize(
    "override, message",
    [("crop.flip_to_right=true", "crop.flip_to_right"), ("codec.sigma=3", "codec.sigma"), ("model.name=unet", "model.name"),
     ("model.classes=2", "model.classes"), ("estimator.masks.colour=1", "estimator.masks.colour"),
     ("estimator.training.class_balance=2", "class_balance"), ("loss.heatmap=iou", "loss.heatmap")],
)
def test_config_mistakes_name_their_key(override, message):
    overrides = [override, "augment.flip_to_right=true"] if override.startswith("crop.") else [override]
    with pytest.raises(ConfigError, match=message):
        build_estimator_from_config(load_config(SEGNET_CONFIG, overrides))
