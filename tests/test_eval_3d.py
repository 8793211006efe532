"""3D evaluation: a stand-in estimator that returns the ground truth scores perfectly, and the
camera-frame figures see a wrong hand size that the aligned ones forgive."""

from dataclasses import replace

import numpy as np
import pytest

from handpose.estimators import CropSpec, Estimator
from handpose.evaluation.eval_3d import anchor_on_2d, evaluate_3d_predictions, evaluate_3d_where_labelled
from handpose.evaluation.topdown import predict_topdown
from handpose.metrics.alignment import root_relative
from handpose.structures import HandPrediction

from test_bone_vectors import hand_3d_sample


class TruthEstimator(Estimator):
    """Returns each sample's own labels, in the order the samples are predicted."""

    name = "truth"

    def __init__(self, samples):
        super().__init__(CropSpec(32), {})
        self.queue = list(samples)

    def forward(self, images):
        return {"count": len(images)}

    def predict(self, outputs, affines, flipped, finder="", hand_scores=None):
        batch, self.queue = self.queue[: outputs["count"]], self.queue[outputs["count"] :]
        return [truth(sample) for sample in batch]


def truth(sample, scale=1.0):
    return HandPrediction(
        box=sample.box,
        keypoints=sample.keypoints_2d,
        keypoint_scores=np.ones(21),
        keypoints_3d=None if sample.keypoints_3d is None else scale * root_relative(sample.keypoints_3d),
    )


def test_the_ground_truth_scores_perfectly_from_predicted_and_ground_truth_2d():
    samples = [hand_3d_sample(i, side) for i, side in enumerate(("left", "right", "right"))]
    unlabelled = replace(hand_3d_sample(7), keypoints_3d=None)
    no_camera = replace(hand_3d_sample(8), K=None)
    every = samples + [unlabelled, no_camera]
    predictions = predict_topdown(TruthEstimator(every), every, batch_size=2, progress=False).hands
    report = evaluate_3d_where_labelled(predictions, every)
    assert report["num_hands"] == 4 and report["skipped_without_3d"] == 1
    summary = report["summary"]
    assert summary["scale_aligned_mean_mm"] < 1e-6 and summary["pa_mpjpe_mm"] < 1e-6
    assert summary["scale_aligned_auc_20_50_mm"] == summary["pa_auc_20_50_mm"] == 1.0
    # 0-50 mm starts at a threshold of 0 mm, which only an error of exactly 0 passes (1/19 of the area)
    assert summary["scale_aligned_auc_0_50_mm"] > 0.97 and summary["pa_auc_0_50_mm"] > 0.97
    assert report["camera_frame"]["num_hands"] == 3
    assert summary["camera_mpjpe_mm_from_predicted_2d"] < 0.1 and summary["camera_mpjpe_mm_from_ground_truth_2d"] < 0.1
    pck = report["root_relative"]["alignments"]["scale"]["pck"]
    assert [(e["low"], e["high"], e["unit"]) for e in pck] == [(20.0, 50.0, "mm"), (0.0, 50.0, "mm")]


def test_a_wrong_hand_size_costs_depth_in_the_camera_frame_only():
    samples = [hand_3d_sample(i) for i in range(3)]
    report = evaluate_3d_predictions([truth(s, 1.2) for s in samples], samples)
    summary = report["summary"]
    assert summary["scale_aligned_mean_mm"] < 1e-6 and summary["pa_mpjpe_mm"] < 1e-6
    assert report["root_relative"]["alignments"]["root"]["epe_mean"] > 5.0
    assert summary["camera_mpjpe_mm_from_ground_truth_2d"] > 40.0  # 20% too large: placed 20% too far (400 mm)
    without_k = evaluate_3d_predictions([truth(s) for s in samples], [replace(s, K=None) for s in samples])
    assert without_k["camera_frame"]["from_predicted_2d"] is None
    assert without_k["summary"]["camera_mpjpe_mm_from_predicted_2d"] is None


def test_predictions_without_3d_are_refused():
    sample = hand_3d_sample(0)
    with pytest.raises(ValueError, match="keypoints_3d"):
        evaluate_3d_predictions([replace(truth(sample), keypoints_3d=None)], [sample])
    assert evaluate_3d_where_labelled([truth(sample)], [replace(sample, keypoints_3d=None)]) is None
    with pytest.raises(ValueError, match="one prediction per sample"):
        evaluate_3d_where_labelled([], [sample])


def test_top_down_3d_is_scored_re_anchored_on_the_predicted_2d_where_the_sample_has_k():
    """A shape turned about the optical axis (depths right, in-plane rotation wrong) scores as the
    truth once anchored on its 2D; without K it is scored as predicted."""
    sample = hand_3d_sample(2)
    c, s = np.cos(np.radians(35.0)), np.sin(np.radians(35.0))
    turn = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    turned = replace(truth(sample), keypoints_3d=root_relative(sample.keypoints_3d) @ turn.T)
    anchored, unanchored = anchor_on_2d([turned, turned], [sample, replace(sample, K=None)])
    expected = root_relative(sample.keypoints_3d)
    assert np.abs(anchored.keypoints_3d - expected).max() < 1e-3  # mm; the 2D labels carry rounding
    assert unanchored is turned
    assert evaluate_3d_predictions([anchored], [sample])["summary"]["scale_aligned_mean_mm"] < 1e-3
    assert evaluate_3d_predictions([turned], [sample])["summary"]["scale_aligned_mean_mm"] > 10.0
