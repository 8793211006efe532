"""The upright pass (``upright``): each hand's final crop turned so that the hand stands upright,
in the Predictor's every path and in top-down evaluation; keypoints still map back exactly."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from handpose.cli.main import main
from handpose.estimators import HeatmapEstimator
from handpose.geometry.camera import apply_affine
from handpose.geometry.crop import MIDDLE_MCP, CropBox, box_around, crop_affine, upright_rotation
from handpose.inference.crops import estimate_in_boxes, turned_upright
from handpose.inference.predictor import PLAIN_VIEW, Predictor
from handpose.inference.weights import save_weights
from handpose.skeleton import NUM_JOINTS, WRIST
from handpose.structures import HandPrediction, keypoint_box

from geometry_reading import IMAGE_HEIGHT, IMAGE_WIDTH, GeometryReadingEstimator, coordinate_image


def leaning_hand(rng: np.random.Generator, lean_degrees: float) -> np.ndarray:
    """21 keypoints around the image centre whose middle knuckle leans ``lean_degrees`` clockwise
    from straight above the wrist."""
    truth = np.array([IMAGE_WIDTH / 2, IMAGE_HEIGHT / 2]) + rng.uniform(-12, 12, (NUM_JOINTS, 2))
    angle = np.radians(lean_degrees)
    truth[MIDDLE_MCP] = truth[WRIST] + 14 * np.array([np.sin(angle), -np.cos(angle)])
    return truth


def recording(monkeypatch, module) -> list[list[CropBox]]:
    """Every list of boxes ``module``'s estimate_in_boxes is called with, in order."""
    calls: list[list[CropBox]] = []
    original = module.estimate_in_boxes

    def estimate_in_boxes(estimator, image_of, boxes, *args, **kwargs):
        calls.append(list(boxes))
        return original(estimator, image_of, boxes, *args, **kwargs)

    monkeypatch.setattr(module, "estimate_in_boxes", estimate_in_boxes)
    return calls


def upright_in(box: CropBox, keypoints: np.ndarray) -> bool:
    """Whether the hand stands upright in the box's crop, to a degree (the turn is taken from
    predicted keypoints, exact to a few hundredths of a pixel)."""
    crop = apply_affine(keypoints, crop_affine(box, 64))
    dx, dy = crop[MIDDLE_MCP] - crop[WRIST]
    return abs(np.degrees(np.arctan2(dx, -dy))) < 1.0


@pytest.mark.parametrize("lean", [70.0, -120.0])
def test_every_path_turns_the_final_crop_upright_and_maps_back_exactly(lean, monkeypatch):
    import handpose.inference.predictor as predictor_module

    truth = leaning_hand(np.random.default_rng(1), lean)
    calls = recording(monkeypatch, predictor_module)
    paths = {
        "whole image": ({}, 4),  # both orientations of the whole image, then of the turned refine crop
        "box, side given": ({"boxes": [keypoint_box(truth)], "sides": ["left"]}, 2),  # plain, then turned
        "box, side decided": ({"boxes": [keypoint_box(truth)]}, 4),
    }
    for name, (call, crops) in paths.items():
        calls.clear()
        estimator = GeometryReadingEstimator(truth[None], padding=1.5)
        predictor = Predictor(estimator=estimator, finder="whole_image", upright=True, tta_rotations=PLAIN_VIEW)
        (found,) = predictor(coordinate_image(0), **call)
        assert np.abs(found.keypoints - truth).max() < 0.3, name  # a wrong mapping misses by pixels; a turned crop puts
        # the box corners near its edge, where the fake decodes to a few tenths
        assert sum(len(c) for c in calls) == crops, name
        assert all(upright_in(box, truth) for box in calls[-1]), name
        assert all(box.rotation == 0.0 for box in calls[0]), name  # the first pass is the plain crop


def test_off_the_predictor_runs_exactly_as_before(monkeypatch):
    import handpose.inference.predictor as predictor_module

    truth = leaning_hand(np.random.default_rng(2), 50.0)
    calls = recording(monkeypatch, predictor_module)
    Predictor(estimator=GeometryReadingEstimator(truth[None], padding=1.5), finder="whole_image", tta_rotations=PLAIN_VIEW)(
        coordinate_image(0), boxes=[keypoint_box(truth)], sides=["right"]
    )
    assert len(calls) == 1 and calls[0][0].rotation == 0.0


def test_top_down_evaluation_runs_the_turned_crop_of_the_first_pass():
    import torch

    torch.manual_seed(0)
    tiny = HeatmapEstimator({"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 16}, {"input_size": 64}).eval()
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), (7, 7), 0)
    boxes = [box_around(np.array([40.0, 30.0, 100.0, 90.0])), box_around(np.array([60.0, 20.0, 120.0, 100.0]))]
    boxes[1] = replace(boxes[1], flip=True)
    first = estimate_in_boxes(tiny, lambda i: image, boxes)
    turned = turned_upright(boxes, first)
    assert [box.flip for box in turned] == [box.flip for box in boxes]  # the mirror stays
    assert [box.rotation for box in turned] == [upright_rotation(p.keypoints) for p in first]
    expected = estimate_in_boxes(tiny, lambda i: image, turned)
    both = estimate_in_boxes(tiny, lambda i: image, boxes, upright=True)
    assert all(np.array_equal(a.keypoints, b.keypoints) for a, b in zip(both, expected))
    assert not np.allclose(expected[0].keypoints, first[0].keypoints)  # the turn changed what the network saw


def test_a_prediction_without_a_direction_keeps_its_crop():
    box = CropBox((50.0, 50.0), 40.0, rotation=12.0)
    flat = HandPrediction(
        box=np.array([30.0, 30.0, 70.0, 70.0]), keypoints=np.zeros((NUM_JOINTS, 2)), keypoint_scores=np.ones(NUM_JOINTS)
    )
    assert turned_upright([box], [flat]) == [box]


def test_the_command_lines_take_upright_on_boxes_too(tmp_path: Path, capsys):
    import torch

    from handpose.synth.cache import prepare_synth_set

    torch.manual_seed(0)
    tiny = HeatmapEstimator({"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 16}, {"input_size": 64})
    weights = save_weights(tiny, tmp_path / "tiny.pt")
    annotations = prepare_synth_set(2, 5, 96, tmp_path / "cache")
    assert main(["eval", str(weights), "--data", f"coco:{annotations}", "--upright", "--out", str(tmp_path / "eval")]) == 0
    import json

    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["protocol"]["upright"] is True
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.full((96, 96, 3), 128, np.uint8))
    command = ["predict", str(image), "--weights", str(weights), "--finder", "whole_image", "--upright"]
    assert main([*command, "--out", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    # the whole-image-only options are still refused on the annotated boxes
    assert main(["eval", str(weights), "--data", f"coco:{annotations}", "--upright", "--tta-scales", "0.9,1"]) == 1
    assert "(tta_scales) apply to whole images" in capsys.readouterr().err
