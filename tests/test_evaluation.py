"""Scoring in two pixel spaces, COCO results files, ``evaluate_checkpoints`` and ``handpose eval``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from handpose.cli.main import main
from handpose.data.spec import parse_data_spec
from handpose.estimators import HeatmapEstimator
from handpose.evaluation.evaluate import (
    evaluate_checkpoints,
    model_names,
    score_predictions,
    scores_by_subject,
    subject_masks,
)
from handpose.evaluation.predictions_io import coco_results, match_results, read_coco_results, write_coco_results
from handpose.geometry.crop import box_around
from handpose.inference.weights import CHECKPOINT_PREFIX, ESTIMATOR_SPEC_KEY, save_weights
from handpose.skeleton import NUM_JOINTS
from handpose.structures import VISIBLE, HandSample

from geometry_reading import GeometryReadingEstimator, coordinate_image

CROP_FILES = ("metrics.json", "predictions.json", "overlays.png")
PCK_FILES = ("pck_image_px.png", "pck_crop_px.png")


def hand(index: int, side: str = "right", image_id: int | None = None, scale: float = 1.0) -> HandSample:
    rng = np.random.default_rng(index)
    keypoints = np.array([60.0, 50.0]) + scale * rng.uniform(-20, 20, (NUM_JOINTS, 2))
    visibility = np.full(NUM_JOINTS, VISIBLE, dtype=np.int8)
    visibility[-1] = 0  # one unlabelled joint, left out of every figure
    return HandSample(
        image=coordinate_image(index),
        keypoints_2d=keypoints,
        visibility=visibility,
        hand_side=side,  # type: ignore[arg-type]
        box=np.concatenate([keypoints.min(0), keypoints.max(0)]),
        source="fake",
        sample_id=f"img{index}.png#{index}",
        extras={} if image_id is None else {"image_id": image_id},
    )


# --- scoring -------------------------------------------------------------------------------------


def test_subject_masks_split_the_samples_by_subject_in_order_then_all():
    samples = [replace(hand(i), extras={"subject": subject}) for i, subject in enumerate(("040", "001", "040"))]
    masks = subject_masks(samples)
    assert list(masks) == ["001", "040", "all"]
    assert masks["001"].tolist() == [False, True, False] and masks["040"].tolist() == [True, False, True]
    assert masks["all"].tolist() == [True, True, True]


def test_scores_by_subject_score_each_subjects_samples_alone():
    samples = [replace(hand(i), extras={"subject": subject}) for i, subject in enumerate(("040", "001", "040"))]
    keypoints = np.stack([s.keypoints_2d for s in samples])
    keypoints[1] += np.array([3.0, 4.0])  # subject 001's one hand 5 px off; 040's exact
    scored = scores_by_subject(samples, keypoints)
    assert list(scored) == ["001", "040", "all"]
    assert scored["001"][0].tolist() == [False, True, False]
    assert scored["001"][1]["epe_mean"] == pytest.approx(5.0) and scored["040"][1]["epe_mean"] == pytest.approx(0.0)
    assert scored["all"][1]["epe_mean"] == pytest.approx(5.0 / 3.0)


def test_errors_are_reported_in_image_pixels_and_in_normalised_crop_pixels():
    samples = [hand(0), hand(1, scale=2.0)]
    offset = np.array([3.0, 4.0])  # 5 px in the image
    pred = np.stack([s.keypoints_2d for s in samples]) + offset
    report = score_predictions(samples, pred, norm_size=256)
    image, crop = report["image_pixels"], report["crop_pixels"]
    assert image["pixel_space"] == "original image pixels"
    assert crop["pixel_space"] == "pixels of a 256x256 crop around the hand" and crop["norm_size"] == 256
    assert image["epe_mean"] == pytest.approx(5.0) and image["num_joints"] == 2 * (NUM_JOINTS - 1)
    sides = np.array([box_around(s.box, 1.5).size for s in samples])
    assert crop["per_image_epe"] == pytest.approx(list(5.0 * 256 / sides))
    assert image["pck"][0]["low"] == 0.0 and image["pck"][0]["high"] == 30.0 and image["pck"][0]["unit"] == "px"
    assert image["pck_at_alpha"]["value"] == crop["pck_at_alpha"]["value"]  # PCK@0.2 does not depend on scale


def test_missing_predictions_count_as_misses():
    samples = [hand(0), hand(1)]
    perfect = np.stack([s.keypoints_2d for s in samples])
    with_miss = perfect.copy()
    with_miss[1] = np.nan  # no hand found in the second image
    with_miss[0, 3] = np.nan  # one joint not predicted in the first
    full, missing = score_predictions(samples, perfect), score_predictions(samples, with_miss)
    for space in ("image_pixels", "crop_pixels"):
        assert full[space]["pck"][0]["auc"] == pytest.approx(1.0)
        report = missing[space]
        assert report["missing_joints"] == NUM_JOINTS - 1 + 1 and report["missing_images"] == 1
        assert report["epe_mean"] == pytest.approx(0.0)  # the answered joints are exact ...
        assert report["pck"][0]["values"][-1] == pytest.approx(1 - 21 / 40)  # ... the misses fail every threshold
        assert report["pck_at_alpha"]["value"] == pytest.approx(1 - 21 / 40)


# --- COCO results files --------------------------------------------------------------------------


def test_coco_results_round_trip_and_have_cocos_structure(tmp_path: Path):
    samples = [hand(0, image_id=10), hand(1), hand(2, image_id=12)]
    keypoints = np.stack([s.keypoints_2d for s in samples]) + 0.25
    keypoints[0, 5] = np.nan
    keypoints[2] = np.nan  # no prediction at all: no result
    scores = np.linspace(0.1, 0.9, 3 * NUM_JOINTS).reshape(3, NUM_JOINTS)
    path = write_coco_results(tmp_path / "predictions.json", coco_results(samples, keypoints, scores))

    raw = json.loads(path.read_text())
    assert [r["image_id"] for r in raw] == [10, "img1.png#1"]  # COCO image id, else the sample id
    for result in raw:
        assert result["category_id"] == 1 and isinstance(result["score"], float)
        assert len(result["keypoints"]) == 3 * NUM_JOINTS
    assert raw[0]["keypoints"][5 * 3 : 5 * 3 + 3] == [0.0, 0.0, 0.0]
    assert raw[1]["keypoints"][:3] == pytest.approx([*keypoints[1, 0], scores[1, 0]], abs=1e-3)

    back, back_scores = match_results(read_coco_results(path), samples)
    assert np.allclose(back[:2], keypoints[:2], atol=1e-3, equal_nan=True)
    assert np.isnan(back[2]).all() and np.isnan(back[0, 5]).all()
    assert np.allclose(back_scores[:2][~np.isnan(keypoints[:2, :, 0])], scores[:2][~np.isnan(keypoints[:2, :, 0])], atol=1e-3)


def test_results_without_sample_ids_match_the_nearest_hand_of_their_image():
    left, right = hand(0, "left", image_id=5), hand(1, "right", image_id=5)
    right = replace(right, keypoints_2d=right.keypoints_2d + [100, 0], box=right.box + [100, 0, 100, 0])

    def result(sample: HandSample) -> dict:
        flat = np.column_stack([sample.keypoints_2d, np.ones(NUM_JOINTS)]).ravel().tolist()
        return {"image_id": 5, "category_id": 1, "keypoints": flat, "score": 1.0}

    matched, _ = match_results([result(right), result(left)], [left, right, hand(2, image_id=6)])
    assert np.allclose(matched[0], left.keypoints_2d) and np.allclose(matched[1], right.keypoints_2d)
    assert np.isnan(matched[2]).all()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"image_id": 1}', "JSON list"),
        ('[{"keypoints": []}]', "prediction 0 is not an object with an 'image_id'"),
        ('[{"image_id": 3, "keypoints": [1, 2, 3]}]', r"prediction 0 \(image 3\): 'keypoints' must be 63 numbers"),
    ],
)
def test_broken_results_files_are_rejected_naming_the_file(tmp_path: Path, content: str, message: str):
    path = tmp_path / "results.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as error:
        read_coco_results(path)
    assert str(path) in str(error.value)


def test_model_names_are_short_and_unique():
    assert model_names(["runs/a/best.ckpt", "runs/b/best.ckpt", "mp.json"]) == ["a__best", "b__best", "mp"]
    assert model_names(["x/model.ckpt"]) == ["model"]
    with pytest.raises(ValueError, match="twice"):
        model_names(["a.ckpt", "a.ckpt"])


# --- whole runs ----------------------------------------------------------------------------------


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A COCO-style set of 3 hands (right, left, left), one per image; the images store their own
    pixel coordinates and image index, for :class:`GeometryReadingModel`."""
    images, annotations = [], []
    for index, sample in enumerate([hand(0, "right"), hand(1, "left"), hand(2, "left", scale=1.5)]):
        cv2.imwrite(str(tmp_path / f"img{index}.png"), cv2.cvtColor(coordinate_image(index), cv2.COLOR_RGB2BGR))
        images.append({"id": 100 + index, "file_name": f"img{index}.png", "width": 200, "height": 160})
        x0, y0, x1, y1 = sample.box
        annotations.append(
            {"id": index, "image_id": 100 + index, "category_id": 1, "hand_type": sample.hand_side,
             "keypoints": np.column_stack([sample.keypoints_2d, sample.visibility]).ravel().tolist(),
             "bbox": [x0, y0, x1 - x0, y1 - y0]}
        )
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": [{"id": 1}]}))
    return path


def tiny_estimator() -> HeatmapEstimator:
    return HeatmapEstimator(
        network={"name": "unet", "base_channels": 4, "depth": 1},
        codec={"input_size": 64, "heatmap_size": 64, "decoder": "dark"},
        crop={"padding": 2.5, "flip_to_right": True},
    )


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """A real (untrained) weights file, as ``handpose export`` writes it."""
    return save_weights(tiny_estimator(), tmp_path / "run" / "tiny.pt")


@pytest.fixture
def training_checkpoint(tmp_path: Path) -> Path:
    """A real (untrained) training checkpoint, laid out as the Lightning module writes it."""
    estimator = tiny_estimator()
    state = {f"{CHECKPOINT_PREFIX}{key}": value for key, value in estimator.state_dict().items()}
    path = tmp_path / "train" / "last.ckpt"
    path.parent.mkdir()
    torch.save({ESTIMATOR_SPEC_KEY: estimator.spec(), "hyper_parameters": {"config": {}}, "state_dict": state}, path)
    return path


@pytest.fixture
def truth_checkpoint(monkeypatch, dataset: Path) -> Path:
    """A stand-in weights file whose estimator answers with the ground truth, located through the image."""
    samples = parse_data_spec(f"coco:{dataset}").read().samples
    estimator = GeometryReadingEstimator(np.stack([s.keypoints_2d for s in samples]), padding=2.5)
    monkeypatch.setattr("handpose.inference.predictor.load_estimator", lambda path, device="cpu": estimator)
    path = dataset.parent / "truth.pt"
    path.write_bytes(b"stand-in")
    return path


def test_a_model_that_finds_the_truth_scores_perfectly_in_original_pixels(truth_checkpoint: Path, dataset: Path, tmp_path: Path):
    out = tmp_path / "out"
    reports = evaluate_checkpoints([truth_checkpoint], f"coco:{dataset}", out, batch_size=2, progress=False)
    report = reports["truth"]
    assert report["protocol"]["padding"] == 2.5 and report["protocol"]["flip_to_right"] is True
    assert report["image_pixels"]["epe_mean"] < 0.05 and report["image_pixels"]["missing_joints"] == 0
    assert min(report["crop_pixels"]["pck"][0]["values"][1:]) == 1.0  # all within the first threshold above 0
    assert json.loads((out / "metrics.json").read_text()) == report
    results = read_coco_results(out / "predictions.json")
    assert sorted(r["image_id"] for r in results) == [100, 101, 102]
    samples = parse_data_spec(f"coco:{dataset}").read().samples
    matched, _ = match_results(results, samples)
    assert np.abs(matched - np.stack([s.keypoints_2d for s in samples]))[:, :-1].max() < 0.25


def test_several_models_give_one_table_and_one_plot_per_pixel_space(
    checkpoint: Path, truth_checkpoint: Path, dataset: Path, tmp_path: Path
):
    samples = parse_data_spec(f"coco:{dataset}").read().samples
    half = np.stack([s.keypoints_2d for s in samples]) + 2.0
    half[1] = np.nan  # found no hand in the second image
    results = write_coco_results(tmp_path / "elsewhere.json", coco_results(samples, half, np.ones(half.shape[:2])))
    out = tmp_path / "out"
    reports = evaluate_checkpoints([truth_checkpoint, checkpoint, results], f"coco:{dataset}", out, progress=False)
    assert list(reports) == ["truth", "tiny", "elsewhere"]
    for name in reports:
        for file_name in CROP_FILES:
            assert (out / name / file_name).stat().st_size > 0
    for file_name in PCK_FILES + ("comparison.md",):
        assert (out / file_name).stat().st_size > 0
    elsewhere = reports["elsewhere"]["image_pixels"]
    assert elsewhere["missing_images"] == 1 and elsewhere["missing_joints"] == NUM_JOINTS - 1
    assert elsewhere["epe_mean"] == pytest.approx(2.0 * np.sqrt(2), abs=1e-3)
    table = (out / "comparison.md").read_text()
    assert "original image pixels" in table and "pixels of a 256x256 crop around the hand" in table
    assert table.count("| elsewhere") == 2 and table.count("| tiny") == 2


def test_cli_writes_every_file_for_a_real_checkpoint(checkpoint: Path, dataset: Path, tmp_path: Path, capsys):
    out = tmp_path / "eval"
    status = main(["eval", str(checkpoint), "--data", f"coco:{dataset}", "--out", str(out), "--limit", "2", "--norm-size", "128"])
    assert status == 0
    for file_name in CROP_FILES + PCK_FILES:
        assert (out / file_name).stat().st_size > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_samples"] == 2 and metrics["crop_pixels"]["norm_size"] == 128
    assert metrics["protocol"]["input_size"] == 64 and metrics["protocol"]["seconds_per_image"] > 0
    assert len(json.loads((out / "predictions.json").read_text())) == 2
    assert "128x128 crop" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "status", "message"),
    [
        (["--data", "nosuch:{dataset}"], 1, "unknown format"),
        (["--data", "coco:{dataset}", "--limit", "0"], 2, "--limit must be at least 1"),
    ],
)
def test_cli_reports_bad_input(checkpoint: Path, dataset: Path, capsys, arguments, status, message):
    arguments = [a.format(dataset=dataset) for a in arguments]
    assert main(["eval", str(checkpoint), *arguments]) == status
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", b"PK\x03\x04 truncated zip"])
def test_cli_names_a_file_that_is_no_checkpoint(dataset: Path, tmp_path: Path, capsys, content: bytes):
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(content)
    assert main(["eval", str(broken), "--data", f"coco:{dataset}", "--out", str(tmp_path / "o")]) == 1
    error = capsys.readouterr().err
    assert f"{broken}: not a readable weights file or checkpoint" in error and "Traceback" not in error


def test_training_checkpoints_evaluate_like_the_weights_file_exported_from_them(
    training_checkpoint: Path, dataset: Path, tmp_path: Path
):
    exported = tmp_path / "exported.pt"
    assert main(["export", str(training_checkpoint), "--out", str(exported)]) == 0
    reports = evaluate_checkpoints([training_checkpoint, exported], f"coco:{dataset}", tmp_path / "out", progress=False)
    assert [report["protocol"]["estimator"] for report in reports.values()] == ["heatmap_2d", "heatmap_2d"]
    assert all(np.isfinite(report["image_pixels"]["epe_mean"]) for report in reports.values())


def test_the_whole_image_finder_scores_the_predictor_without_the_boxes(truth_checkpoint: Path, dataset: Path, tmp_path: Path):
    reports = evaluate_checkpoints([truth_checkpoint], f"coco:{dataset}", tmp_path / "out", progress=False, finder="whole_image")
    report = reports["truth"]
    assert report["protocol"]["hands_found"] == 3 and report["protocol"]["images"] == 3
    assert report["protocol"]["finder"] == "whole_image" and report["protocol"]["unmatched_predictions_per_image"] == 0
    assert report["image_pixels"]["epe_mean"] < 0.25  # hands near the image edge decode a little less exactly
    with pytest.raises(ValueError, match="unknown finder"):
        evaluate_checkpoints([truth_checkpoint], f"coco:{dataset}", tmp_path / "o2", progress=False, finder="palm")


def test_a_3d_estimator_on_a_set_with_3d_labels_gets_a_3d_report(tmp_path: Path):
    from handpose.estimators import build_estimator
    from handpose.synth.cache import prepare_synth_set

    annotations = prepare_synth_set(3, 21, 96, tmp_path / "cache")
    estimator = build_estimator(
        "heatmap_bones_3d", network={"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 8},
        codec={"input_size": 64},
    )
    weights = save_weights(estimator, tmp_path / "bones.pt")
    report = evaluate_checkpoints([weights], f"coco:{annotations}", tmp_path / "out", progress=False)["bones"]
    figures = report["protocol"]["3d"]
    assert figures["num_hands"] == report["num_samples"] and figures["num_hands"] >= 3
    assert all(np.isfinite(value) for value in figures.values() if isinstance(value, float))


def test_the_onnx_backend_scores_as_torch_does_2d_and_3d(tmp_path: Path, capsys):
    from handpose.estimators import build_estimator
    from handpose.synth.cache import prepare_synth_set

    annotations = prepare_synth_set(3, 21, 96, tmp_path / "cache")
    estimator = build_estimator(
        "heatmap_depth_25d", network={"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 8},
        codec={"input_size": 64},
    )
    weights = save_weights(estimator, tmp_path / "depths.pt")
    reports = {
        backend: evaluate_checkpoints([weights], f"coco:{annotations}", tmp_path / backend, progress=False, backend=backend)["depths"]
        for backend in ("torch", "onnx")
    }
    assert [report["protocol"]["backend"] for report in reports.values()] == ["torch", "onnx"]
    torch_report, onnx_report = reports["torch"], reports["onnx"]
    assert onnx_report["image_pixels"]["epe_mean"] == pytest.approx(torch_report["image_pixels"]["epe_mean"], rel=1e-3)
    for key, value in torch_report["protocol"]["3d"].items():
        if value is None:  # a figure an untrained network's 3D leaves undefined, e.g. no hand placed in front of the camera
            assert onnx_report["protocol"]["3d"][key] is None, key
        else:
            assert onnx_report["protocol"]["3d"][key] == pytest.approx(value, rel=1e-3, abs=1e-3), key
    assert main(["eval", str(weights), "--data", f"coco:{annotations}", "--backend", "onnx", "--out", str(tmp_path / "cli")]) == 0
    assert "mirrored hands" in capsys.readouterr().out
