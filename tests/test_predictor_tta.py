"""The Predictor's test-time options (refine passes, views of the final crop at other scales and
rotations): with one view, they run exactly the two-pass pipeline; by default the rotations of
DEFAULT_ROTATIONS, the best view kept; every view maps back exactly and the views combine as
documented; video is tracked with one view; bad values are clear errors. The crops run with every
module in eval mode."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from handpose.cli.main import main
from handpose.estimators import HeatmapEstimator
from handpose.geometry.crop import CropBox, box_around
from handpose.inference.crops import estimate_in_boxes
from handpose.inference.predictor import DEFAULT_ROTATIONS, PLAIN_VIEW, Predictor
from handpose.inference.weights import save_weights
from handpose.skeleton import NUM_JOINTS
from handpose.structures import keypoint_box

from geometry_reading import IMAGE_HEIGHT, IMAGE_WIDTH, GeometryReadingEstimator, coordinate_image


@pytest.fixture(scope="module")
def tiny() -> HeatmapEstimator:
    """An untrained tiny network: its keypoints move with the crop, so views differ."""
    import torch

    torch.manual_seed(0)
    return HeatmapEstimator({"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 16}, {"input_size": 64}).eval()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), (7, 7), 0)
    cv2.circle(image, (90, 55), 25, (220, 170, 140), -1)
    return image


def test_with_one_view_the_whole_image_finder_is_the_two_pass_pipeline_exactly(tiny, photo, monkeypatch):
    """Reference: both orientations of the whole image, then both of the box around the first
    pass's keypoints; the more confident orientation each time (every crop cut from the image
    itself here, as the reference does)."""
    import handpose.inference.predictor as predictor_module

    monkeypatch.setattr(predictor_module, "MAX_WARP_SHRINK", 1e9)

    def better(crop: CropBox) -> object:
        as_is, mirrored = estimate_in_boxes(tiny, lambda i: photo, [crop, replace(crop, flip=True)])
        return as_is if as_is.score >= mirrored.score else mirrored

    height, width = photo.shape[:2]
    first = better(CropBox(center=((width - 1) / 2.0, (height - 1) / 2.0), size=float(max(width, height))))
    expected = better(box_around(keypoint_box(first.keypoints), tiny.crop.padding))
    for options in ({"tta_rotations": PLAIN_VIEW}, {"tta_scales": [1.0], "tta_rotations": [0], "refine_passes": 1, "tta_combine": "mean"}):
        (found,) = Predictor(estimator=tiny, finder="whole_image", **options)(photo)
        assert np.array_equal(found.keypoints, expected.keypoints)
        assert np.array_equal(found.keypoint_scores, expected.keypoint_scores)
        assert found.hand_side == expected.hand_side
    (once,) = Predictor(estimator=tiny, finder="whole_image", refine=False, tta_rotations=PLAIN_VIEW)(photo)
    (zero,) = Predictor(estimator=tiny, finder="whole_image", refine_passes=0, tta_rotations=PLAIN_VIEW)(photo)
    assert np.array_equal(once.keypoints, first.keypoints) and np.array_equal(zero.keypoints, first.keypoints)


def test_views_combine_within_their_hull_as_the_score_weighted_mean_or_the_best_view(tiny, photo):
    scales, rotations = (0.8, 1.0, 1.25), (0.0, 12.0)
    single = {
        (s, r): Predictor(estimator=tiny, finder="whole_image", tta_scales=[s], tta_rotations=[r])(photo)[0]
        for s in scales for r in rotations
    }
    points = np.stack([hand.keypoints for hand in single.values()])  # (V, 21, 2)
    assert np.ptp(points, axis=0).max() > 1.0  # the views do differ, so the combination is tested
    assert len({hand.hand_side for hand in single.values()}) == 1  # one orientation, the plain crop's

    (mean,) = Predictor(estimator=tiny, finder="whole_image", tta_scales=scales, tta_rotations=rotations, tta_combine="mean")(photo)
    assert np.all(mean.keypoints >= points.min(axis=0) - 1e-9) and np.all(mean.keypoints <= points.max(axis=0) + 1e-9)
    weights = np.clip(np.stack([hand.keypoint_scores for hand in single.values()]), 0.0, None)
    weights = np.where(weights.sum(axis=0) > 0, weights, 1.0)
    expected = (weights[..., None] * points).sum(axis=0) / weights.sum(axis=0)[:, None]
    assert np.abs(mean.keypoints - expected).max() < 1e-3  # batches of 1 and of 6 crops differ in the last bits
    assert mean.hand_side == single[(1.0, 0.0)].hand_side and mean.hand_score == single[(1.0, 0.0)].hand_score
    assert np.array_equal(mean.box, np.concatenate([mean.keypoints.min(axis=0), mean.keypoints.max(axis=0)]))

    (best,) = Predictor(estimator=tiny, finder="whole_image", tta_scales=scales, tta_rotations=rotations, tta_combine="best")(photo)
    top = max(single.values(), key=lambda hand: hand.score)
    assert np.array_equal(best.keypoints, top.keypoints) and best.score == pytest.approx(max(h.score for h in single.values()))


def test_by_default_the_best_of_the_default_rotations_is_kept(tiny, photo):
    single = [Predictor(estimator=tiny, finder="whole_image", tta_rotations=[r])(photo)[0] for r in DEFAULT_ROTATIONS]
    assert len(DEFAULT_ROTATIONS) > 1 and 0.0 in DEFAULT_ROTATIONS
    assert np.ptp(np.stack([hand.keypoints for hand in single]), axis=0).max() > 1.0  # the views differ
    (found,) = Predictor(estimator=tiny, finder="whole_image")(photo)
    top = max(single, key=lambda hand: hand.score)
    assert np.abs(found.keypoints - top.keypoints).max() < 1e-3  # batches of 1 and of 2 crops differ in the last bits
    assert found.score == pytest.approx(top.score, abs=1e-5)


def test_every_view_and_refine_pass_maps_back_exactly():
    """The fake estimator reads each crop's geometry off the image: a scaled or turned view, or a
    third pass, whose mapping back were wrong would miss the truth (by pixels: a 10-degree turn
    moves a point 15 px from the centre by 2.6 px). Views are kept loose enough that every
    keypoint stays inside the crop, where the fake decodes exactly."""
    rng = np.random.default_rng(7)
    truth = np.array([IMAGE_WIDTH / 2 + 5, IMAGE_HEIGHT / 2 - 4]) + rng.uniform(-15, 15, (NUM_JOINTS, 2))
    options = {"tta_scales": (1.0, 1.15, 1.3), "tta_rotations": (-10.0, 0.0, 10.0), "tta_combine": "mean"}
    for extra in ({}, {"refine_passes": 2}):
        estimator = GeometryReadingEstimator(truth[None], padding=1.5)
        (found,) = Predictor(estimator=estimator, finder="whole_image", **options, **extra)(coordinate_image(0))
        assert np.abs(found.keypoints - truth).max() < 0.1
    (boxed,) = Predictor(estimator=GeometryReadingEstimator(truth[None], padding=1.5), finder="whole_image", **options)(
        coordinate_image(0), boxes=[keypoint_box(truth)], sides=["left"]
    )
    assert np.abs(boxed.keypoints - truth).max() < 0.1 and boxed.hand_side == "left" and boxed.hand_score == 1.0


def test_the_views_run_once_each_and_only_in_the_chosen_orientation(tiny, photo, monkeypatch):
    import handpose.inference.predictor as predictor_module

    crops: list[list[CropBox]] = []
    original = predictor_module.estimate_in_boxes
    monkeypatch.setattr(
        predictor_module, "estimate_in_boxes", lambda e, image_of, boxes, **kw: (crops.append(list(boxes)), original(e, image_of, boxes, **kw))[1]
    )
    (found,) = Predictor(estimator=tiny, finder="whole_image", tta_rotations=(-10.0, 0.0, 10.0), refine_passes=2)(photo)
    assert [len(c) for c in crops] == [2, 2, 2, 2]  # whole, two refine passes (both orientations), then 2 views
    assert {c.flip for c in crops[-1]} == {found.hand_side == "left"}
    assert sorted(c.rotation for c in crops[-1]) == [-10.0, 10.0]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tta_scales": []}, "tta_scales"),
        ({"tta_scales": [0.0, 1.0]}, "tta_scales"),
        ({"tta_scales": [float("nan")]}, "tta_scales"),
        ({"tta_rotations": [0.0, 120.0]}, "tta_rotations"),
        ({"tta_scales": [1.0, 1.0]}, "repeat"),
        ({"tta_combine": "median"}, "tta_combine"),
        ({"refine_passes": -1}, "refine_passes"),
        ({"refine_passes": 1.5}, "refine_passes"),
    ],
)
def test_bad_options_are_clear_errors(tiny, options, message):
    with pytest.raises(ValueError, match=message):
        Predictor(estimator=tiny, finder="whole_image", **options)


def test_the_command_line_takes_the_options_and_refuses_bad_ones(tiny, photo, tmp_path: Path, capsys, monkeypatch):
    weights = save_weights(tiny, tmp_path / "tiny.pt")
    cv2.imwrite(str(tmp_path / "a.png"), photo[..., ::-1])
    common = ["predict", str(tmp_path / "a.png"), "--weights", str(weights), "--finder", "whole_image"]
    assert main([*common, "--tta-rotations=-15,0,15", "--tta-scales", "0.9,1", "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "predictions.json").is_file()
    assert main([*common, "--tta-scales", "0,1", "--out", str(tmp_path / "bad")]) == 2
    assert "tta_scales" in capsys.readouterr().err
    # a video runs one view per frame unless --tta-rotations is given; an image the default views
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (photo.shape[1], photo.shape[0]))
    for _ in range(2):
        writer.write(photo[..., ::-1])
    writer.release()
    import handpose.inference.predictor as predictor_module

    made: list[tuple] = []
    original = predictor_module.Predictor.__init__
    monkeypatch.setattr(predictor_module.Predictor, "__init__", lambda self, *a, **kw: (made.append(kw.get("tta_rotations")), original(self, *a, **kw))[1])
    for source, extra, expected in [
        (video, [], PLAIN_VIEW), (video, ["--tta-rotations=-5,0,5"], (-5.0, 0.0, 5.0)), (tmp_path / "a.png", [], None)
    ]:
        arguments = ["predict", str(source), "--weights", str(weights), "--finder", "whole_image", *extra]
        assert main([*arguments, "--out", str(tmp_path / "views")]) == 0
        assert made[-1] == expected  # None: the Predictor's own default, DEFAULT_ROTATIONS
    monkeypatch.undo()
    with pytest.raises(SystemExit):
        main([*common, "--tta-scales", "big"])
    capsys.readouterr()
    # handpose eval: the options need a whole-image finder (refused before any data is read)
    (tmp_path / "unread.json").write_text("{}")
    assert main(["eval", str(weights), "--data", f"coco:{tmp_path / 'unread.json'}", "--tta-scales", "0.9,1"]) == 1
    assert "finder other than boxes" in capsys.readouterr().err


def test_estimate_in_boxes_runs_every_module_in_eval_mode(tiny, photo):
    tiny.eval()
    tiny.network.predict.train()  # one module left training, as user code might
    box = CropBox((photo.shape[1] / 2, photo.shape[0] / 2), 80.0)
    estimate_in_boxes(tiny, lambda i: photo, [box])
    assert not any(module.training for module in tiny.modules())
