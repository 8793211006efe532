"""The real-photo keypoint spread: the Predictor spreads each hand's 2D keypoints about their mean
by the factor its weights record (1 where none), or by the one it is given; the factor travels
with the network through weights files, re-saves and ONNX exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from handpose.estimators import HeatmapEstimator
from handpose.inference.predictor import Predictor, spread_about_mean
from handpose.inference.weights import WeightsError, load_estimator, read_metadata, save_weights
from handpose.skeleton import NUM_JOINTS

from geometry_reading import IMAGE_HEIGHT, IMAGE_WIDTH, GeometryReadingEstimator, coordinate_image


def test_the_spread_moves_keypoints_away_from_their_mean_by_the_factor():
    rng = np.random.default_rng(0)
    truth = np.array([IMAGE_WIDTH / 2, IMAGE_HEIGHT / 2]) + rng.uniform(-30, 30, (NUM_JOINTS, 2))
    estimator = GeometryReadingEstimator(truth[None], padding=1.5)
    assert estimator.keypoint_spread == 1.0  # an estimator without a calibration spreads nothing
    (own,) = Predictor(estimator=estimator, finder="whole_image")(coordinate_image(0))
    assert np.abs(own.keypoints - truth).max() < 0.1
    (spread,) = Predictor(estimator=estimator, finder="whole_image", keypoint_spread=1.1)(coordinate_image(0))
    centre = own.keypoints.mean(axis=0)
    assert np.allclose(spread.keypoints, centre + 1.1 * (own.keypoints - centre), atol=1e-9)
    assert np.allclose(spread.keypoints.mean(axis=0), centre)
    estimator.keypoint_spread = 0.9  # the weights' own factor is the default
    (calibrated,) = Predictor(estimator=estimator, finder="whole_image")(coordinate_image(0))
    assert np.allclose(calibrated.keypoints, spread_about_mean(own.keypoints, 0.9), atol=1e-9)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_a_spread_that_is_no_positive_factor_is_a_clear_error(bad):
    estimator = GeometryReadingEstimator(np.zeros((1, NUM_JOINTS, 2)), padding=1.5)
    with pytest.raises(ValueError, match="keypoint_spread"):
        Predictor(estimator=estimator, finder="whole_image", keypoint_spread=bad)


def test_the_factor_travels_with_the_weights_their_re_saves_and_onnx(tmp_path: Path):
    tiny = HeatmapEstimator({"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 16}, {"input_size": 64})
    plain = save_weights(tiny, tmp_path / "plain.pt", {"note": "x"})
    assert "keypoint_spread" not in read_metadata(plain) and load_estimator(plain).keypoint_spread == 1.0

    record = {"factor": 1.04, "chosen_on": "a test"}
    calibrated = save_weights(tiny, tmp_path / "calibrated.pt", {"keypoint_spread": record})
    # The estimator's own factor wins over a record's, whose other keys stay.
    assert read_metadata(calibrated)["keypoint_spread"] == {"factor": 1.0, "chosen_on": "a test"}
    tiny.keypoint_spread = 1.04
    calibrated = save_weights(tiny, tmp_path / "calibrated.pt", {"keypoint_spread": record})
    loaded = load_estimator(calibrated)
    assert loaded.keypoint_spread == 1.04
    resaved = save_weights(loaded, tmp_path / "resaved.pt", {"note": "re-headed"})  # e.g. handpose side-head
    assert load_estimator(resaved).keypoint_spread == 1.04

    pytest.importorskip("onnxruntime")
    from handpose.inference.onnx_backend import export_onnx, load_onnx_estimator

    onnx = load_onnx_estimator(export_onnx(loaded, tmp_path / "calibrated.onnx"))
    assert onnx.keypoint_spread == 1.04
    assert Predictor(calibrated, finder="whole_image", backend="onnx").keypoint_spread == 1.04


@pytest.mark.parametrize("factor", ["wide", -1.0, None])
def test_a_weights_file_whose_spread_is_no_factor_is_a_clear_error_naming_it(tmp_path: Path, factor):
    tiny = HeatmapEstimator({"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 16}, {"input_size": 64})
    import torch

    path = save_weights(tiny, tmp_path / "odd.pt")
    content = torch.load(path, weights_only=True)
    content["metadata"]["keypoint_spread"] = {"factor": factor}  # written by hand: save_weights writes the network's
    torch.save(content, path)
    with pytest.raises(WeightsError, match="odd.pt.*keypoint_spread"):
        load_estimator(path)


def test_the_bundled_default_carries_its_real_photo_spread():
    assert read_metadata("default")["keypoint_spread"]["factor"] == load_estimator("default").keypoint_spread == 1.04
