"""Top-down prediction with a fake estimator that reads the crop's geometry off the image itself
(:mod:`geometry_reading`)."""

from __future__ import annotations

import numpy as np
import pytest

from handpose.evaluation.topdown import predict_topdown
from handpose.geometry.crop import CropBox, box_around
from handpose.skeleton import NUM_JOINTS
from handpose.structures import VISIBLE, HandSample, keypoint_box

from geometry_reading import IMAGE_HEIGHT, IMAGE_WIDTH, GeometryReadingEstimator, coordinate_image


def make_samples(sides: list[str | None], seed: int = 0) -> list[HandSample]:
    rng = np.random.default_rng(seed)
    samples = []
    for index, side in enumerate(sides):
        centre = rng.uniform([60, 50], [IMAGE_WIDTH - 60, IMAGE_HEIGHT - 50])
        keypoints = centre + rng.uniform(-30, 30, (NUM_JOINTS, 2))
        samples.append(
            HandSample(
                image=coordinate_image(index),
                keypoints_2d=keypoints,
                visibility=np.full(NUM_JOINTS, VISIBLE, dtype=np.int8),
                hand_side=side,  # type: ignore[arg-type]
                box=keypoint_box(keypoints),
                source="fake",
                sample_id=f"hand{index}",
            )
        )
    return samples


def ground_truth(samples: list[HandSample]) -> np.ndarray:
    return np.stack([s.keypoints_2d for s in samples])


def test_right_left_and_unknown_hands_come_back_in_original_pixels():
    samples = make_samples(["right", "left", None, "left", "right"])
    model = GeometryReadingEstimator(ground_truth(samples), padding=2.0, flip_to_right=True)
    result = predict_topdown(model, samples, batch_size=2, progress=False)
    assert model.mirrored == {0: False, 1: True, 2: False, 3: True, 4: False}
    assert result.keypoints.shape == (5, NUM_JOINTS, 2) and result.scores.shape == (5, NUM_JOINTS)
    errors = np.linalg.norm(result.keypoints - ground_truth(samples), axis=-1)
    assert errors.max() < 0.1
    expected_sizes = [box_around(s.box, 2.0).size for s in samples]
    assert np.allclose(result.crop_sizes, expected_sizes)
    assert np.all(result.scores > 0.5)


def test_models_of_both_hands_see_left_hands_unmirrored():
    samples = make_samples(["left", "right"], seed=1)
    model = GeometryReadingEstimator(ground_truth(samples), padding=2.5, flip_to_right=False)
    result = predict_topdown(model, samples, progress=False)
    assert model.mirrored == {0: False, 1: False}
    assert np.abs(result.keypoints - ground_truth(samples)).max() < 0.1
    assert np.allclose(result.crop_sizes, [box_around(s.box, 2.5).size for s in samples])


def test_rotated_shifted_and_mirrored_boxes_map_back_exactly():
    samples = make_samples(["right", "left", "right", None], seed=2)
    boxes = []
    for i, sample in enumerate(samples):
        base = box_around(sample.box, 3.0)
        centre = (base.center[0] + 0.05 * base.size * (-1) ** i, base.center[1] - 0.03 * base.size)
        boxes.append(CropBox(centre, base.size * (1.1 + 0.1 * i), rotation=[25.0, -40.0, 170.0, 90.0][i], flip=i % 2 == 1))
    model = GeometryReadingEstimator(ground_truth(samples), padding=1.5, flip_to_right=True)
    result = predict_topdown(model, samples, boxes=boxes, progress=False)
    assert model.mirrored == {0: False, 1: True, 2: False, 3: True}
    assert np.abs(result.keypoints - ground_truth(samples)).max() < 0.1
    assert np.allclose(result.crop_sizes, [b.size for b in boxes])


def test_a_wrong_mapping_would_be_caught():
    """The fake model is strict: predictions for one sample's crop do not fit another sample."""
    samples = make_samples(["right", "right"], seed=3)
    model = GeometryReadingEstimator(ground_truth(samples)[::-1].copy(), padding=1.5, flip_to_right=True)
    result = predict_topdown(model, samples, progress=False)
    assert np.linalg.norm(result.keypoints - ground_truth(samples), axis=-1).mean() > 5.0


def test_bad_arguments_are_rejected():
    samples = make_samples(["right"])
    model = GeometryReadingEstimator(ground_truth(samples))
    with pytest.raises(ValueError, match="one per sample"):
        predict_topdown(model, samples, boxes=[], progress=False)
    with pytest.raises(ValueError, match="no samples"):
        predict_topdown(model, [], progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        predict_topdown(model, samples, batch_size=0, progress=False)
