"""3D evaluation on hands with 3D labels: root-relative figures, and camera-frame ones where K is known.

A single image cannot tell a hand's size, so the headline figures compare shapes: the
root-relative error after scale alignment, its PCK AUC over 20-50 mm (Zimmermann & Brox's range)
and 0-50 mm, and PA-MPJPE (after a similarity transform). Where a sample has K, the predicted
root-relative 3D is also placed in the camera frame by :func:`~handpose.geometry.fit_3d.fit_camera_frame`
(at the size the estimator assumed) and compared unaligned: once from the predicted 2D keypoints
(what inference does, all joints weighted alike, as the decoders' scores are not calibrated) and
once from the ground-truth 2D (the error of the 3D shape and the assumed size alone). A fit that
fails (the keypoints no placement explains) counts as a missing prediction.

Predictions are scored as ``handpose predict`` returns them: the network's 3D shape re-anchored
on its predicted 2D keypoints (:func:`anchor_on_2d`), where the sample has K
(:func:`evaluate_3d_where_labelled`, what ``handpose eval`` reports on the annotated boxes).

Every figure comes from :func:`handpose.metrics.evaluate_3d`, with its ranges stated beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from handpose.geometry.fit_3d import fit_camera_frame
from handpose.geometry.lift_25d import anchor_prediction
from handpose.metrics import PCK_RANGE_3D_FULL_MM, PCK_RANGE_3D_MM, evaluate_3d
from handpose.metrics.alignment import root_relative
from handpose.skeleton import NUM_JOINTS, ROOT
from handpose.structures import HandPrediction, HandSample


def evaluate_3d_where_labelled(predictions: Sequence[HandPrediction], samples: Sequence[HandSample]) -> dict | None:
    """The report of :func:`evaluate_3d_predictions` on the hands that have both a predicted and a
    labelled 3D, scored as ``handpose predict`` gives them (:func:`anchor_on_2d`), plus
    ``skipped_without_3d``, the count of the others; None where no hand has both (a 2D-only
    estimator, or a set without 3D labels)."""
    if len(predictions) != len(samples):
        raise ValueError(f"need one prediction per sample, got {len(predictions)} for {len(samples)} samples")
    with_3d = [i for i, (hand, sample) in enumerate(zip(predictions, samples))
               if hand.keypoints_3d is not None and sample.keypoints_3d is not None]
    if not with_3d:
        return None
    labelled = [samples[i] for i in with_3d]
    report = evaluate_3d_predictions(anchor_on_2d([predictions[i] for i in with_3d], labelled), labelled)
    return {**report, "skipped_without_3d": len(samples) - len(with_3d)}


def anchor_on_2d(predictions: Sequence[HandPrediction], samples: Sequence[HandSample]) -> list[HandPrediction]:
    """The predictions as ``handpose predict`` gives them: each 3D shape re-anchored on its own
    predicted 2D keypoints with its sample's K (:func:`~handpose.geometry.lift_25d.anchor_prediction`);
    as they are where the sample has no K."""
    return [hand if sample.K is None else anchor_prediction(hand, sample.K) for hand, sample in zip(predictions, samples)]


def evaluate_3d_predictions(predictions: Sequence[HandPrediction], samples: Sequence[HandSample]) -> dict:
    """Report on predictions with ``keypoints_3d`` (root-relative, mm) against the samples' 3D labels.

    Keys: ``num_hands``; ``root_relative``, the :func:`~handpose.metrics.evaluate_3d` report of
    the root-relative 3D (its "scale" and "procrustes" alignments are the headline figures; joints
    count only where the root is labelled too); ``camera_frame``, for the hands with K, the
    reports ``from_predicted_2d`` and ``from_ground_truth_2d`` (their "none" alignment is MPJPE
    in the camera frame), and ``num_hands`` with K (None where no sample has K); ``summary``, the
    headline numbers by name, each name stating its range.
    """
    if len(predictions) != len(samples) or not samples:
        raise ValueError(f"need one prediction per sample, got {len(predictions)} for {len(samples)} samples")
    if any(p.keypoints_3d is None for p in predictions) or any(s.keypoints_3d is None for s in samples):
        raise ValueError("every prediction needs keypoints_3d and every sample 3D labels")
    gt = np.stack([np.asarray(s.keypoints_3d, dtype=np.float64) for s in samples])
    labelled = np.stack([s.labelled for s in samples])
    rooted = labelled & labelled[:, ROOT : ROOT + 1]
    relative = evaluate_3d(
        np.stack([np.asarray(p.keypoints_3d, dtype=np.float64) for p in predictions]),
        np.where(rooted[..., None], root_relative(np.where(labelled[..., None], gt, 0.0)), 0.0),
        rooted,
    )
    with_k = [i for i, s in enumerate(samples) if s.K is not None]
    camera: dict = {"num_hands": len(with_k), "from_predicted_2d": None, "from_ground_truth_2d": None}
    if with_k:
        from_predicted = [_placed(predictions[i], samples[i], predictions[i].keypoints, None) for i in with_k]
        from_truth = [_placed(predictions[i], samples[i], samples[i].keypoints_2d, samples[i].labelled) for i in with_k]
        camera["from_predicted_2d"] = evaluate_3d(np.stack(from_predicted), gt[with_k], labelled[with_k])
        camera["from_ground_truth_2d"] = evaluate_3d(np.stack(from_truth), gt[with_k], labelled[with_k])
    summary = _summary(relative, camera)
    return {"num_hands": len(samples), "root_relative": relative, "camera_frame": camera, "summary": summary}


def _placed(
    prediction: HandPrediction, sample: HandSample, keypoints_2d: np.ndarray, weights: np.ndarray | None
) -> np.ndarray:
    """The prediction's 3D fitted into the sample's camera frame, or all NaN (a miss) where no fit exists."""
    try:
        return fit_camera_frame(keypoints_2d, prediction.keypoints_3d, sample.K, weights).keypoints_3d
    except ValueError:
        return np.full((NUM_JOINTS, 3), np.nan)


def _summary(relative: dict, camera: dict) -> dict[str, float | None]:
    scale, procrustes = relative["alignments"]["scale"], relative["alignments"]["procrustes"]
    summary = {
        "scale_aligned_mean_mm": scale["epe_mean"],
        "scale_aligned_median_mm": scale["epe_median"],
        "scale_aligned_auc_20_50_mm": _auc(scale, PCK_RANGE_3D_MM),
        "scale_aligned_auc_0_50_mm": _auc(scale, PCK_RANGE_3D_FULL_MM),
        "pa_mpjpe_mm": procrustes["epe_mean"],
        "pa_auc_20_50_mm": _auc(procrustes, PCK_RANGE_3D_MM),
        "pa_auc_0_50_mm": _auc(procrustes, PCK_RANGE_3D_FULL_MM),
    }
    for source in ("from_predicted_2d", "from_ground_truth_2d"):
        report = camera[source]
        summary[f"camera_mpjpe_mm_{source}"] = None if report is None else report["alignments"]["none"]["epe_mean"]
    return summary


def _auc(alignment: dict, pck_range: tuple[float, float, int]) -> float:
    low, high, steps = pck_range
    return next(e["auc"] for e in alignment["pck"] if (e["low"], e["high"], e["steps"]) == (low, high, steps))
