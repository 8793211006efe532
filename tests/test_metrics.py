import json
import math

import numpy as np
import pytest

from handpose.metrics import (
    aligned_errors,
    area_under_curve,
    auc,
    count_missing,
    evaluate_2d,
    evaluate_3d,
    format_report_table,
    keypoint_errors,
    mean_error,
    pck_at_alpha,
    pck_curve,
    pck_thresholds,
    procrustes_align,
    reference_sizes,
)


def two_hands_2d():
    """2 images x 21 joints with errors chosen by hand.

    Ground truth: joint j at (5 j, 0), a box 100 px wide. Image 0: every joint 5 px off (3, 4),
    joint 5 not labelled. Image 1: joint j is j px off along y, joint 2 not predicted (NaN).
    """
    gt = np.zeros((2, 21, 2))
    gt[:, :, 0] = 5.0 * np.arange(21)
    pred = gt.copy()
    pred[0] += [3.0, 4.0]
    pred[1, :, 1] += np.arange(21)
    pred[1, 2] = np.nan
    labelled = np.ones((2, 21), dtype=bool)
    labelled[0, 5] = False
    gt[0, 5] = np.nan  # unlabelled ground truth may be anything, even NaN
    return pred, gt, labelled


def rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues' formula: a proper rotation about ``axis``."""
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def random_hands_3d(n: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-80, 80, size=(n, 21, 3)) + [0, 0, 500]


def test_keypoint_errors_mark_unlabelled_nan_and_missing_inf():
    pred, gt, labelled = two_hands_2d()
    errors = keypoint_errors(pred, gt, labelled)
    assert errors.shape == (2, 21)
    assert np.isnan(errors[0, 5])
    assert errors[1, 2] == np.inf
    assert np.allclose(np.delete(errors[0], 5), 5.0)
    assert np.allclose(np.delete(errors[1], 2), np.delete(np.arange(21.0), 2))
    assert count_missing(errors) == 1
    assert mean_error(errors) == pytest.approx(308 / 40)


def test_keypoint_errors_in_3d_and_a_whole_missing_image():
    gt = np.zeros((2, 21, 3))
    pred = gt + [2.0, 3.0, 6.0]  # 7 mm off everywhere
    pred[1] = np.nan
    errors = keypoint_errors(pred, gt, np.ones((2, 21), dtype=bool))
    assert np.allclose(errors[0], 7.0)
    assert np.all(errors[1] == np.inf)
    assert count_missing(errors) == 21


def test_keypoint_errors_reject_bad_ground_truth_and_shapes():
    gt = np.zeros((1, 21, 2))
    gt[0, 3] = np.nan
    with pytest.raises(ValueError, match="ground truth"):
        keypoint_errors(np.zeros((1, 21, 2)), gt, np.ones((1, 21), dtype=bool))
    with pytest.raises(ValueError, match="shape|must be"):
        keypoint_errors(np.zeros((1, 21, 2)), np.zeros((1, 21, 3)), np.ones((1, 21), dtype=bool))


def test_pck_curve_leaves_out_unlabelled_and_counts_missing_as_misses():
    errors = np.array([[1.0, np.nan], [np.inf, 3.0]])
    assert np.allclose(pck_curve(errors, [0.0, 2.0, 5.0]), [0, 1 / 3, 2 / 3])
    assert np.allclose(pck_thresholds(0, 30, 4), [0, 10, 20, 30])
    with pytest.raises(ValueError, match="no labelled joints"):
        pck_curve(np.full((2, 21), np.nan), [0.0, 1.0])


def test_auc_by_hand():
    # Thresholds 0, 10, 20, 30 -> PCK 1/4, 2/4, 3/4, 4/4; trapezoids 3.75 + 6.25 + 8.75 = 18.75 over 30.
    assert auc(np.array([0.0, 10.0, 20.0, 30.0]), 0, 30, steps=4) == pytest.approx(0.625)
    assert auc(np.array([0.0, np.inf, np.nan]), 0, 30, steps=4) == pytest.approx(0.5)
    assert auc(np.zeros((2, 21)), 0, 30) == 1.0
    assert auc(np.full((2, 21), 1e6), 0, 30) == 0.0
    assert auc(np.full((2, 21), 25.0), 20, 50) == pytest.approx(1 - 5 / 30, abs=0.03)
    assert area_under_curve([0, 1, 2], [0.0, 1.0, 1.0]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="high > low"):
        auc(np.zeros(3), 30, 0)


def test_pck_at_alpha_is_strict_and_normalised_by_the_longer_box_side():
    gt = np.array([[[0.0, 0.0], [100.0, 40.0], [50.0, 20.0]]])
    labelled = np.ones((1, 3), dtype=bool)
    assert reference_sizes(gt, labelled)[0] == 100.0
    pred = gt + [[[19.9, 0.0], [20.0, 0.0], [0.0, 0.0]]]  # threshold 0.2 * 100 = 20
    assert pck_at_alpha(pred, gt, labelled) == pytest.approx(2 / 3)
    pred[0, 2] = np.nan
    assert pck_at_alpha(pred, gt, labelled) == pytest.approx(1 / 3)
    labelled[0, 1] = False  # the box shrinks to 50 x 20: threshold 10
    assert reference_sizes(gt, labelled)[0] == 50.0
    assert pck_at_alpha(pred, gt, labelled) == pytest.approx(0.0)


def test_procrustes_recovers_a_similarity_transform_exactly():
    gt = random_hands_3d()
    r = rotation(np.array([1.0, 2.0, -0.5]), 1.1)
    pred = 1.7 * gt @ r.T + [30.0, -12.0, 80.0]
    labelled = np.ones((3, 21), dtype=bool)
    labelled[0, 4] = False
    pred[1, 7] = np.nan  # a missing joint must not spoil the fit of the others
    errors = aligned_errors(pred, gt, labelled, "procrustes")
    assert np.isnan(errors[0, 4]) and errors[1, 7] == np.inf
    finite = np.isfinite(errors)
    assert np.allclose(errors[finite], 0.0, atol=1e-8)
    assert aligned_errors(pred, gt, labelled, "none")[finite].min() > 1.0


def test_procrustes_does_not_align_away_a_mirror_image():
    gt = random_hands_3d(1)
    mirrored = gt * [-1.0, 1.0, 1.0]
    errors = aligned_errors(mirrored, gt, np.ones((1, 21), dtype=bool), "procrustes")
    assert errors.mean() > 5.0


def test_procrustes_by_hand_in_2d():
    square = np.array([[[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]]])
    turned = square[:, [1, 2, 3, 0]] * 0.5 + 10.0  # rotated by 90 degrees about (1, 1), halved, moved
    aligned = procrustes_align(turned, square, np.ones((1, 4), dtype=bool))
    assert np.allclose(aligned, square)


def test_root_and_scale_alignment():
    gt = random_hands_3d(2)
    labelled = np.ones((2, 21), dtype=bool)
    shifted = gt + [10.0, 0.0, 0.0]
    assert np.allclose(aligned_errors(shifted, gt, labelled, "none"), 10.0)
    assert np.allclose(aligned_errors(shifted, gt, labelled, "root"), 0.0)
    scaled = 2.0 * (gt - gt[:, :1]) + [5.0, 5.0, 5.0]
    assert np.allclose(aligned_errors(scaled, gt, labelled, "scale"), 0.0, atol=1e-9)
    root_errors = aligned_errors(scaled, gt, labelled, "root")
    assert np.allclose(root_errors, np.linalg.norm(gt - gt[:, :1], axis=-1))
    labelled[0, 0] = False  # no root in image 0: root-relative errors are undefined there
    scaled[1, 0] = np.nan  # no predicted root in image 1: every joint is a miss
    errors = aligned_errors(scaled, gt, labelled, "root")
    assert np.isnan(errors[0]).all() and np.isposinf(errors[1]).all()
    with pytest.raises(ValueError, match="unknown alignment"):
        aligned_errors(gt, gt, labelled, "affine")


def test_evaluate_2d_by_hand():
    pred, gt, labelled = two_hands_2d()
    report = evaluate_2d(pred, gt, labelled, pck_range=(0, 30, 4))
    json.dumps(report, allow_nan=False)
    assert report["num_images"] == 2 and report["missing_images"] == 0
    assert report["num_joints"] == 41 and report["missing_joints"] == 1
    assert report["epe_mean"] == pytest.approx(308 / 40)
    assert report["epe_median"] == pytest.approx(5.0)
    # Threshold 0.2 * 100 = 20: image 0 all 20 right; image 1 joints 0..19 but the missing one.
    assert report["pck_at_alpha"]["value"] == pytest.approx(39 / 41)
    (curve,) = report["pck"]
    assert (curve["low"], curve["high"], curve["steps"], curve["unit"]) == (0.0, 30.0, 4, "px")
    assert np.allclose(curve["thresholds"], [0, 10, 20, 30])
    assert np.allclose(curve["values"], np.array([1, 30, 40, 40]) / 41)
    assert curve["auc"] == pytest.approx((155 + 350 + 400) / 41 / 30)
    per_keypoint = report["per_keypoint_epe"]
    assert per_keypoint["wrist"] == pytest.approx(2.5)
    assert per_keypoint["thumb_mcp"] == pytest.approx(5.0)  # joint 2: missing in image 1
    assert per_keypoint["index_mcp"] == pytest.approx(5.0)  # joint 5: unlabelled in image 0
    assert per_keypoint["pinky_tip"] == pytest.approx(12.5)
    assert np.allclose(report["per_image_epe"], [5.0, 208 / 20])


def test_evaluate_2d_counts_a_missing_image_as_misses():
    pred, gt, labelled = two_hands_2d()
    pred[0] = np.nan
    report = evaluate_2d(pred, gt, labelled, pck_range=(0, 30, 4))
    json.dumps(report, allow_nan=False)
    assert report["missing_images"] == 1 and report["missing_joints"] == 21
    assert report["per_image_epe"][0] is None
    assert report["epe_mean"] == pytest.approx(208 / 20)
    assert report["pck"][0]["values"][-1] == pytest.approx(20 / 41)
    with pytest.raises(ValueError, match="no labelled joints"):
        evaluate_2d(pred, gt, np.zeros((2, 21), dtype=bool))
    with pytest.raises(ValueError, match=r"\(N, 21, 2\)"):
        evaluate_2d(pred[..., :1], gt[..., :1], labelled)


def test_evaluate_3d_by_hand():
    gt = random_hands_3d(2)
    pred = gt + [10.0, 0.0, 0.0]
    report = evaluate_3d(pred, gt, np.ones((2, 21), dtype=bool))
    json.dumps(report, allow_nan=False)
    assert report["unit"] == "mm" and report["num_images"] == 2
    absolute, root, procrustes = (report["alignments"][a] for a in ("none", "root", "procrustes"))
    assert absolute["epe_mean"] == pytest.approx(10.0)
    assert root["epe_mean"] == pytest.approx(0.0, abs=1e-9)
    assert procrustes["epe_mean"] == pytest.approx(0.0, abs=1e-6)
    ranges = [(e["low"], e["high"], e["steps"]) for e in absolute["pck"]]
    assert ranges == [(20.0, 50.0, 20), (0.0, 50.0, 20)]
    assert absolute["pck"][0]["auc"] == 1.0
    # 0-50 mm in 20 steps of 50/19 mm: PCK is 0 at the first 4 thresholds (< 10 mm), 1 after.
    assert absolute["pck"][1]["auc"] == pytest.approx(15.5 / 19)


def test_report_table_compares_models_with_ranges_in_the_header():
    pred, gt, labelled = two_hands_2d()
    ours = evaluate_2d(pred, gt, labelled)
    perfect = evaluate_2d(gt, gt, labelled)
    table = format_report_table({"ours": ours, "perfect": perfect})
    lines = table.splitlines()
    assert len(lines) == 4
    assert "AUC 0-30 px (20 steps)" in lines[0] and "PCK@0.2" in lines[0] and "EPE mean (px)" in lines[0]
    assert lines[2].startswith("| ours ") and "7.70" in lines[2]
    assert lines[3].startswith("| perfect ") and "1.000" in lines[3] and "0.00" in lines[3]
    with pytest.raises(ValueError, match="like with like"):
        format_report_table({"ours": ours, "other": evaluate_2d(pred, gt, labelled, pck_range=(0, 20, 20))})
    with pytest.raises(ValueError, match="no reports"):
        format_report_table({})


def test_report_table_for_3d_has_a_row_per_alignment():
    gt = random_hands_3d(2)
    report = evaluate_3d(gt + 3.0, gt, np.ones((2, 21), dtype=bool))
    table = format_report_table({"lifter": report})
    assert "AUC 20-50 mm (20 steps)" in table and "AUC 0-50 mm (20 steps)" in table
    assert [line.split("|")[2].strip() for line in table.splitlines()[2:]] == [
        "MPJPE",
        "root-relative",
        "scale-aligned",
        "PA-MPJPE",
    ]
