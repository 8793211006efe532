"""``handpose predict`` and ``handpose export`` from the command line, with a tiny untrained
estimator (the figures are not the point here; files, records and errors are)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import handpose
from handpose.cli.main import main
from handpose.estimators import HeatmapEstimator
from handpose.inference.weights import BUNDLED_WEIGHTS, load_estimator, read_metadata, save_weights


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    estimator = HeatmapEstimator({"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 16}, {"input_size": 64})
    return save_weights(estimator, tmp_path_factory.mktemp("weights") / "tiny.pt", metadata={"note": "test"})


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    cv2.imwrite(str(folder / "a.jpg"), rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "sub" / "b.png"), rng.integers(0, 255, (90, 90, 3), dtype=np.uint8))
    (folder / "broken.jpg").write_bytes(b"not an image")
    (folder / "notes.txt").write_text("not an image either")
    return folder


def test_a_folder_gives_one_record_per_hand_names_failures_and_sets_the_exit_status(weights, photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["predict", str(photos), "--weights", str(weights), "--out", str(out), "--save-overlays", "--finder", "whole_image"]) == 1
    captured = capsys.readouterr()
    assert "broken.jpg" in captured.err and "2 of 3 images predicted" in captured.out and "1 non-image files skipped" in captured.out
    records = json.loads((out / "predictions.json").read_text())
    assert sorted(r["file_name"] for r in records) == ["a.jpg", "sub/b.png"]
    for record in records:
        assert len(record["keypoints"]) == 21 and all(len(k) == 3 for k in record["keypoints"])
        assert len(record["box"]) == 4 and record["hand_type"] in ("left", "right") and record["finder"] == "whole_image"
    assert (out / "overlays" / "a.jpg").is_file() and (out / "overlays" / "sub" / "b.jpg").is_file()


def test_boxes_from_a_file_are_used_for_the_frames_it_lists(weights, photos, tmp_path):
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.jpg"}],
        "annotations": [{"image_id": 1, "bbox": [10, 10, 50, 60], "hand_type": "left"}, {"image_id": 1, "bbox": [80, 20, 40, 40]}],
    }))
    out = tmp_path / "out"
    assert main(["predict", str(photos / "a.jpg"), "--weights", str(weights), "--boxes", str(boxes), "--out", str(out)]) == 0
    records = json.loads((out / "predictions.json").read_text())
    assert [r["finder"] for r in records] == ["boxes", "boxes"] and records[0]["hand_type"] == "left"


def test_a_video_gives_records_per_frame_and_an_overlay_video(weights, tmp_path):
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (96, 80))
    for i in range(5):
        writer.write(np.full((80, 96, 3), 40 * i, dtype=np.uint8))
    writer.release()
    out = tmp_path / "out"
    assert main(["predict", str(video), "--weights", str(weights), "--out", str(out), "--save-overlays", "--no-track",
                 "--finder", "whole_image"]) == 0
    records = json.loads((out / "predictions.json").read_text())
    assert [r["frame"] for r in records] == [0, 1, 2, 3, 4] and {r["file_name"] for r in records} == {"clip.mp4"}
    capture = cv2.VideoCapture(str(out / "clip_overlay.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    capture.release()
    # Tracked (the default for videos): an untrained network's hands fall below the tracker's
    # pose score, so it reports none, but every frame is read and the overlay video is whole.
    tracked = tmp_path / "tracked"
    assert main(["predict", str(video), "--weights", str(weights), "--out", str(tracked), "--save-overlays",
                 "--finder", "whole_image"]) == 0
    assert all("track_id" in r for r in json.loads((tracked / "predictions.json").read_text()))
    capture = cv2.VideoCapture(str(tracked / "clip_overlay.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    capture.release()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["nowhere.jpg"], "nowhere.jpg: no such file or folder"),
        ([], "give a SOURCE or --webcam N"),
        (["{photos}", "--weights", "{photos}/notes.txt"], "notes.txt: not a readable weights file"),
        (["{photos}", "--weights", "{photos}/missing.pt"], "missing.pt: weights file is missing"),
        (["{photos}", "--hand-size", "0"], "the hand size must be a positive length in mm"),
    ],
)
def test_bad_sources_and_weights_are_one_clear_line(photos, capsys, arguments, message):
    assert main(["predict", *[a.format(photos=photos) for a in arguments]]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def test_export_writes_a_compact_weights_file_that_predicts_like_its_source(weights, tmp_path, capsys):
    out = tmp_path / "again.pt"
    assert main(["export", str(weights), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    source, exported = load_estimator(weights), load_estimator(out)
    assert exported.spec() == source.spec() and read_metadata(out)["exported_from"] == "tiny.pt"
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(exported(images)["heatmaps"], source(images)["heatmaps"], rtol=0, atol=0)
    assert main(["export", str(tmp_path / "none.ckpt"), "--out", str(out)]) == 1


def test_fp16_weights_give_the_fp32_heatmaps_to_a_thousandth(tmp_path):
    """Storage in fp16 costs about 3 significant digits of each weight; the heatmaps keep them.
    (Keypoints of the trained bundled weights: docs/model_card.md; an untrained network's flat,
    noisy maps have near-ties whose argmax any rounding can flip, so they are no probe of that.)"""
    torch.manual_seed(0)
    estimator = HeatmapEstimator({"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 16}, {"input_size": 64}).eval()
    with torch.no_grad():
        estimator.network.predict.weight.normal_(std=0.5)
    loaded = load_estimator(save_weights(estimator, tmp_path / "w.pt"))
    images = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, actual = estimator(images)["heatmaps"], loaded(images)["heatmaps"]
    scale = float(expected.abs().max())
    assert float((actual - expected).abs().max()) < 1e-3 * scale  # measured: 6e-4 of the maps' range

def test_the_bundled_weights_ship_with_the_package_and_load_without_lightning():
    path = BUNDLED_WEIGHTS["default"]
    assert path.is_file() and path.stat().st_size < 8_000_000
    detector = BUNDLED_WEIGHTS["detector"]
    assert not detector.exists() or detector.stat().st_size < 4_000_000
    code = (
        "import sys, handpose; p = handpose.Predictor(); "
        "assert 'lightning' not in sys.modules and 'handpose.train.config' not in sys.modules; print(p.finder)"
    )
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("auto" if detector.exists() else "whole_image")  # auto: the bundled detector
    assert handpose.Predictor is not None


def test_the_onnx_backend_gives_the_torch_keypoints(weights, photos, tmp_path):
    pytest.importorskip("onnxruntime")
    for backend in ("torch", "onnx"):
        assert main(["predict", str(photos / "a.jpg"), "--weights", str(weights), "--backend", backend,
                     "--finder", "whole_image", "--out", str(tmp_path / backend)]) == 0
    torch_record, onnx_record = (json.loads((tmp_path / b / "predictions.json").read_text())[0] for b in ("torch", "onnx"))
    difference = np.abs(np.array(torch_record["keypoints"])[:, :2] - np.array(onnx_record["keypoints"])[:, :2])
    assert difference.max() < 0.5 and torch_record["hand_type"] == onnx_record["hand_type"]
