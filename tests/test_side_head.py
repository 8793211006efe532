"""The side head: its fit separates what can be separated, the estimator carries it through its
outputs, predictions, weights files and ONNX graph, and the Predictor chooses a crop's orientation
by it instead of by the keypoint scores."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from handpose.cli.main import main
from handpose.data.spec import parse_data_spec
from handpose.estimators import build_estimator
from handpose.inference.predictor import Predictor
from handpose.inference.weights import load_estimator, read_metadata, save_weights
from handpose.models.side_head import SideHead, fit_side_head
from handpose.train.side_head import add_side_head, pooled_crops

from geometry_reading import GeometryReadingEstimator, coordinate_image
from test_evaluation import dataset  # noqa: F401  (a fixture: three hands, right, left, left)
from test_heatmap_depth_25d import INPUT, tiny_estimator
from test_predictor import hand_keypoints


def sided_estimator():
    """The tiny 2.5D estimator of its own tests, built with a side head from its spec."""
    return build_estimator("heatmap_depth_25d", **tiny_estimator().spec()["kwargs"], side_head=True)


def test_the_fit_separates_two_classes_by_the_one_feature_that_tells_them_apart(seeded_one_thread_torch):
    generator = torch.Generator().manual_seed(0)
    pooled = torch.randn(400, 10, generator=generator) * torch.linspace(1.0, 50.0, 10)  # scales far apart
    shows_right = pooled[:, 3] > 0
    head = SideHead({32: 4, 16: 2}, 2)
    assert torch.equal(head.logits(pooled), torch.zeros(400))  # unfitted: says nothing
    loss = fit_side_head(head, pooled, shows_right)
    assert loss < 0.2
    assert ((head.logits(pooled) > 0) == shows_right).float().mean() > 0.97
    assert torch.allclose(head.mean, pooled.mean(0)) and torch.allclose(head.scale, pooled.std(0) + 1e-6)
    with pytest.raises(ValueError, match="both sides"):
        fit_side_head(head, pooled, torch.ones(400, dtype=torch.bool))
    with pytest.raises(ValueError, match="each with a label"):
        fit_side_head(head, pooled, shows_right[:10])


def test_the_estimator_carries_the_side_through_outputs_predictions_and_weights(tmp_path: Path, seeded_one_thread_torch):
    plain = tiny_estimator()
    assert not plain.reads_side and "side_head" not in plain.spec()["kwargs"]  # older specs rebuild as they were
    assert "side_logits" not in plain(torch.zeros(2, 3, INPUT, INPUT))
    estimator = sided_estimator().eval()
    assert estimator.reads_side and estimator.spec()["kwargs"]["side_head"] is True
    with torch.no_grad():
        estimator.side_head.linear.weight.normal_(0.0, 1.0)
        estimator.side_head.linear.bias.fill_(0.3)
        images = torch.randn(3, 3, INPUT, INPUT)
        outputs = estimator(images)
    assert outputs["side_logits"].shape == (3,)
    flipped = np.array([False, True, False])
    hands = estimator.predict(outputs, np.tile(np.eye(2, 3), (3, 1, 1)), flipped)
    probabilities = torch.sigmoid(outputs["side_logits"]).numpy()
    assert [h.hand_side for h in hands] == ["right", "left", "right"]
    assert np.allclose([h.hand_score for h in hands], probabilities)  # the side each prediction names
    loaded = load_estimator(save_weights(estimator, tmp_path / "sided.pt"))
    assert loaded.reads_side
    with torch.no_grad():
        assert torch.allclose(loaded(images)["side_logits"], outputs["side_logits"], atol=0.05)  # fp16 weights


class SideReadingEstimator(GeometryReadingEstimator):
    """The geometry-reading fake with a side head that knows the hand appears as ``side``: sure
    (``certainty``) that a crop shows a right hand where the crop, mirrored or not, shows one."""

    def __init__(self, ground_truth: np.ndarray, side: str, certainty: float) -> None:
        super().__init__(ground_truth)
        self.side, self.certainty = side, certainty

    @property
    def reads_side(self) -> bool:
        return True

    def predict(self, outputs, affines, flipped, finder="", hand_scores=None):
        shows_right = np.array([(self.side == "right") != bool(f) for f in flipped])
        scores = np.where(shows_right, self.certainty, 1.0 - self.certainty)
        return super().predict(outputs, affines, flipped, finder, scores)


@pytest.mark.parametrize("side", ["left", "right"])
def test_the_predictor_takes_the_side_and_orientation_the_side_head_reads(side: str):
    truth = hand_keypoints(2)
    # The fake's keypoint scores are the same either way (a tie the mean-score rule settles as "right").
    predictor = Predictor(estimator=SideReadingEstimator(truth[None], side, 0.9), finder="whole_image")
    (found,) = predictor(coordinate_image(0))
    assert found.hand_side == side and found.hand_score == pytest.approx(0.9)
    assert np.abs(found.keypoints - truth).max() < 0.1  # the chosen orientation's keypoints map back exactly
    (boxed,) = predictor(coordinate_image(0), boxes=[np.array([60.0, 40.0, 150.0, 120.0])])
    assert boxed.hand_side == side and boxed.finder == "boxes"


def test_add_side_head_fits_on_labelled_crops_and_leaves_the_network_as_it_was(dataset, seeded_one_thread_torch):  # noqa: F811
    estimator = tiny_estimator().eval()
    network = {key: value.clone() for key, value in estimator.network.state_dict().items()}
    samples = parse_data_spec(f"coco:{dataset}").read().samples  # right, left, left
    pooled, shows_right = pooled_crops(estimator, samples, batch_size=2, progress=False)
    assert pooled.shape[0] == 6 and shows_right.tolist() == [True, False, False, True, False, True]
    loss = add_side_head(estimator, samples, batch_size=2, progress=False)
    assert estimator.reads_side and np.isfinite(loss)
    assert all(torch.equal(value, network[key]) for key, value in estimator.network.state_dict().items())
    with pytest.raises(ValueError, match="no hand side"):
        pooled_crops(estimator, [replace(samples[0], hand_side=None)], progress=False)
    two_d = build_estimator("heatmap_2d", network={"name": "mobilenetv2_pose", "width_mult": 0.25}, codec={"input_size": INPUT})
    with pytest.raises(ValueError, match="3D head"):
        add_side_head(two_d, samples)


def test_handpose_side_head_writes_weights_that_read_the_side(dataset, tmp_path: Path, capsys, seeded_one_thread_torch):  # noqa: F811
    weights = save_weights(tiny_estimator(), tmp_path / "plain.pt", {"trained": "here"})
    out = tmp_path / "sided.pt"
    assert main(["side-head", str(weights), "--out", str(out), "--data", f"coco:{dataset}"]) == 0
    assert "fitted a side head on 3 hands" in capsys.readouterr().out
    assert load_estimator(out).reads_side
    metadata = read_metadata(out)
    assert metadata["trained"] == "here" and metadata["side_head"]["hands"] == 3
    assert main(["side-head", str(tmp_path / "missing.pt"), "--out", str(out)]) == 1
    assert "missing.pt" in capsys.readouterr().err


def test_the_onnx_graph_outputs_the_side_and_its_backend_reads_it(tmp_path: Path, seeded_one_thread_torch):
    pytest.importorskip("onnxruntime")
    from handpose.inference.onnx_backend import export_onnx, load_onnx_estimator

    estimator = sided_estimator().eval()
    with torch.no_grad():
        estimator.side_head.linear.weight.normal_(0.0, 1.0)
    onnx = load_onnx_estimator(export_onnx(estimator, tmp_path / "sided.onnx"), threads=1)
    assert onnx.reads_side and "side_logits" in onnx.output_names
    images = torch.randn(2, 3, INPUT, INPUT)
    with torch.no_grad():
        expected = estimator(images)["side_logits"]
    assert torch.allclose(onnx(images)["side_logits"], expected, atol=1e-3)
    hands = onnx.predict(onnx(images), np.tile(np.eye(2, 3), (2, 1, 1)), np.array([False, True]))
    assert np.allclose([h.hand_score for h in hands], torch.sigmoid(expected).numpy(), atol=1e-3)


class UnsureOfItsSideEstimator(SideReadingEstimator):
    """The side-reading fake whose keypoints are sure (0.9) only in the orientation its side head
    does not choose, as on a real frame where the auto finder lost the hand."""

    def predict(self, outputs, affines, flipped, finder="", hand_scores=None):
        found = super().predict(outputs, affines, flipped, finder, hand_scores)
        chosen = [(self.side == "right") != bool(f) for f in flipped]
        return [replace(p, keypoint_scores=np.full(21, 0.1 if c else 0.9)) for p, c in zip(found, chosen)]


def test_auto_keeps_the_close_up_where_the_orientation_not_chosen_is_sure_of_a_hand():
    class NoHands:
        name = "no_hands"

        def detect(self, images):
            return [[] for _ in images]

    truth = hand_keypoints(3)
    predictor = Predictor(estimator=UnsureOfItsSideEstimator(truth[None], "left", 0.9), detector=NoHands())
    (found,) = predictor(coordinate_image(0))
    assert found.finder == "whole_image" and found.hand_side == "left" and found.score == pytest.approx(0.1)
