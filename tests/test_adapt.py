"""``handpose adapt``: the views' agreement, pseudo-labels that map back exactly (with the fake
estimator that reads each crop's geometry off the image), a short run that writes new weights,
and the one-line errors of a folder without usable images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from handpose.cli.main import main
from handpose.estimators import HeatmapEstimator
from handpose.estimators.heatmap_bones_3d import HeatmapBones3DEstimator
from handpose.estimators.heatmap_depth_25d import HeatmapDepth25DEstimator
from handpose.geometry.camera import apply_affine, invert_affine
from handpose.geometry.crop import CropBox, crop_affine
from handpose.inference.predictor import Predictor
from handpose.inference.sources import Frame
from handpose.inference.weights import load_estimator, read_metadata, save_weights
from handpose.skeleton import NUM_JOINTS
from handpose.structures import NOT_LABELLED
from handpose.train.adapt import AdaptOptions, adapt, label_frames, label_hand, view_agreement, working_copy

from geometry_reading import IMAGE_HEIGHT, IMAGE_WIDTH, GeometryReadingEstimator, coordinate_image


def hand(seed: int = 0, size: float = 60.0) -> np.ndarray:
    """21 points in a disc ``size`` pixels across in the 200 x 160 coordinate image: in a disc, none
    comes near a corner of the turned crops, where a Gaussian is cut and decodes inexactly."""
    rng = np.random.default_rng(seed)
    radius, angle = size / 2 * np.sqrt(rng.uniform(0, 1, NUM_JOINTS)), rng.uniform(0, 2 * np.pi, NUM_JOINTS)
    centre = np.array([IMAGE_WIDTH / 2 + 5, IMAGE_HEIGHT / 2 - 4])
    return centre + radius[:, None] * np.column_stack([np.cos(angle), np.sin(angle)])


def test_identical_views_keep_the_confidence_and_views_far_apart_keep_nothing():
    keypoints = hand()
    scores = np.random.default_rng(1).uniform(0.2, 0.9, (3, NUM_JOINTS))
    mean, weights = view_agreement(np.stack([keypoints] * 3), scores)
    assert np.allclose(mean, keypoints) and np.allclose(weights, scores.mean(axis=0))
    shifted = keypoints + np.array([60.0, 0.0])  # a hand's size apart
    mean, weights = view_agreement(np.stack([keypoints, shifted]), scores[:2])
    assert np.allclose(mean, keypoints + [30.0, 0.0]) and weights.max() < 1e-6
    # Two views d apart: exp(-d^2 / (2 s^2)) with s = scale x the hand's size.
    size = np.ptp(keypoints, axis=0).max()
    near = keypoints + np.array([0.05 * size, 0.0])
    _, weights = view_agreement(np.stack([keypoints, near]), np.ones((2, NUM_JOINTS)))
    assert np.allclose(weights, np.exp(-0.5), atol=1e-3)  # the size barely changes with the shift


def test_pseudo_labels_map_back_onto_the_hand_and_weigh_joints_by_the_teachers_confidence():
    # Large enough that the working copy is smaller than the region it shows: a zoom near 1
    # would round the image's coordinates alike over the hand and bias the fake network's fit.
    truth = hand(2, size=80.0)
    teacher = GeometryReadingEstimator(truth[None], padding=1.5)
    # The whole image: the bundled detector, where there is one, knows nothing of the fake's images.
    options = AdaptOptions(finder="whole_image")
    (found,) = Predictor(estimator=teacher, finder=options.finder)(coordinate_image(0))
    label = label_hand(teacher, coordinate_image(0), found, "a.png", options.augment, 0.3, 0.05)
    assert label is not None and label.sample.sample_id == "a.png"
    copy = label.sample.image
    assert copy.shape[0] == copy.shape[1] <= 200  # the hand's surroundings, not the whole image
    assert np.abs(label.sample.keypoints_2d - apply_affine(truth, label.affine)).max() < 0.1
    # The views agree exactly, so each joint weighs what the teacher's heatmap peaks say (each crop
    # puts the joint at another sub-pixel offset, which moves a Gaussian's sampled peak a little).
    assert np.allclose(label.weights, found.keypoint_scores, atol=0.03)
    assert (label.sample.visibility > NOT_LABELLED).all()
    # Above every joint's confidence the hand is left out.
    above = AdaptOptions(finder="whole_image", min_confidence=min(found.score + 0.05, 0.99))
    labelling = label_frames(teacher, [Frame(coordinate_image(0), "a.png")], above)
    assert labelling.labels == [] and labelling.scores == [found.score]


@pytest.mark.parametrize("size", [150.0, 600.0])  # shrunk 1.1 times (a warp) and 4.3 times (area-averaged)
def test_the_working_copy_holds_the_region_at_the_pixels_of_its_affine(size):
    v, u = np.mgrid[0:700, 0:800].astype(np.float32)
    image = np.stack([u, v, np.zeros_like(u)], axis=-1)  # each pixel holds its coordinates
    region, side = CropBox((400.3, 350.7), size), 140
    copy = working_copy(image, region, side)
    assert copy.shape == (side, side, 3)
    inner = np.mgrid[10 : side - 10, 10 : side - 10][::-1].reshape(2, -1).T.astype(np.float64)  # (u, v) pairs
    where = apply_affine(inner, invert_affine(crop_affine(region, side)))
    # In image pixels; OpenCV's area weights at a non-integer ratio are off by a hundredth or two.
    assert np.abs(copy[inner[:, 1].astype(int), inner[:, 0].astype(int), :2] - where).max() < 0.05


def tiny_parts() -> tuple[dict, dict]:
    """The tiny MobileNetV2 every adapt run here trains and its 64-px codec, fresh each call."""
    return {"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 16}, {"input_size": 64}


def noise_frames(folder: Path, names: tuple[str, ...], seed: int) -> Path:
    """A folder of random 112 x 96 pictures with these file names."""
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for name in names:
        cv2.imwrite(str(folder / name), rng.integers(0, 255, (96, 112, 3), dtype=np.uint8))
    return folder


@pytest.fixture(params=["2d", "bone_head_on_frozen_2d", "depth_head_on_frozen_2d"])
def tiny_weights(request, tmp_path: Path) -> Path:
    """A tiny 2D estimator, or a 3D one as the bundled default is made: its 2D network frozen."""
    torch.manual_seed(0)
    network, codec = tiny_parts()
    if request.param == "2d":
        estimator = HeatmapEstimator(network, codec)
    elif request.param == "bone_head_on_frozen_2d":
        estimator = HeatmapBones3DEstimator(network, codec, bones={"freeze_2d": True})
    else:
        estimator = HeatmapDepth25DEstimator(network, codec, depths={"freeze_2d": True})
    return save_weights(estimator, tmp_path / "tiny.pt", metadata={"note": "teacher"})


def test_a_short_run_writes_new_weights_that_load(tiny_weights, tmp_path, seeded_one_thread_torch):
    folder = noise_frames(tmp_path / "frames", ("a.png", "b.jpg"), seed=0)
    # An untrained network agrees with itself nowhere: a huge agreement scale lets its guesses count.
    options = AdaptOptions(
        epochs=2, batch_size=2, min_confidence=0.0, agreement_scale=1e3, lr=1e-2, finder="whole_image"
    )
    summary = adapt(folder, tmp_path / "out" / "adapted.pt", tiny_weights, options)
    assert (summary.images, summary.unreadable, summary.hands, summary.used) == (2, 0, 2, 2)
    assert summary.joints_kept == 2 * NUM_JOINTS
    teacher, student = load_estimator(tiny_weights), load_estimator(summary.out)
    before = dict(teacher.network.named_parameters())  # the network's parameters: trained, not only batch-norm statistics
    assert any(not torch.equal(value, before[name]) for name, value in student.network.named_parameters())
    metadata = read_metadata(summary.out)
    assert metadata["adapted"]["images"] == "frames" and metadata["adapted"]["image_count"] == 2
    assert metadata["adapted"]["rounds"] == 1 and metadata["teacher_metadata"] == {"note": "teacher"}


def test_a_folder_without_readable_images_is_one_clear_error_with_exit_status_2(tiny_weights, tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "adapted.pt"
    assert main(["adapt", "--images", str(folder), "--weights", str(tiny_weights), "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == [f"error: {folder}: none of its 1 image(s) could be read"]
    assert any(line.startswith("skipped:") and "broken.jpg" in line for line in lines)
    assert not out.exists()
    (folder / "broken.jpg").unlink()
    (folder / "notes.txt").write_text("no images here")
    assert main(["adapt", "--images", str(folder), "--weights", str(tiny_weights), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f"error: {folder}: no images found")


def test_a_side_head_is_fitted_again_on_synthetic_hands_with_the_students_features(tmp_path, seeded_one_thread_torch):
    torch.manual_seed(0)
    teacher = HeatmapDepth25DEstimator(*tiny_parts(), depths={"freeze_2d": True}, side_head=True)
    weights = save_weights(teacher, tmp_path / "sided.pt", metadata={"note": "teacher"})
    folder = noise_frames(tmp_path / "frames", ("a.png", "b.png"), seed=1)
    options = AdaptOptions(
        epochs=1, batch_size=2, min_confidence=0.0, agreement_scale=1e3, lr=1e-2, finder="whole_image",
        side_head_hands=6, cache_dir=tmp_path / "cache",
    )  # fmt: skip
    summary = adapt(folder, tmp_path / "adapted.pt", weights, options)
    student = load_estimator(summary.out)
    assert student.reads_side
    assert not torch.equal(student.side_head.linear.weight, load_estimator(weights).side_head.linear.weight)
    side_head = read_metadata(summary.out)["side_head"]
    assert side_head["hands"] == 6 and side_head["fitted_on"].startswith("synthetic, seed 1")
