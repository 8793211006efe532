"""The README's main job end to end, shrunk to seconds: the bundled-weights pipeline with a tiny
estimator, and the training sketch with a tiny network."""

import json

import pytest

from handpose.demo import DEFAULT_CONFIG, TEST_SEED, run_demo
from handpose.estimators import HeatmapEstimator
from handpose.inference.weights import save_weights
from handpose.synth.cache import prepare_synth_set

TINY = (
    "data.train.0.count=12",
    "data.val.0.count=4",
    "data.batch_size=4",
    "data.workers=0",
    "codec.input_size=64",
    "model.width_mult=0.25",
    "model.head_channels=8",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
)


@pytest.fixture
def tiny_weights(tmp_path):
    estimator = HeatmapEstimator({"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 8}, {"input_size": 64})
    return save_weights(estimator, tmp_path / "tiny.pt")


def test_demo_scores_the_weights_on_synthetic_and_real_frames_and_writes_a_sequence_video(tmp_path, tiny_weights):
    cache = tmp_path / "cache"
    # Stand-in "real" frames: another small synthetic set in COCO layout, all one sequence.
    real = prepare_synth_set(3, TEST_SEED + 100, 128, cache)
    result = run_demo(out_dir=tmp_path / "demo", weights=tiny_weights, test_count=4, real_annotations=real, cache_dir=cache)
    assert set(result.reports) == {"synthetic_test", "real_dev_whole_image", "real_dev_boxes"}
    for name in result.reports:
        folder = tmp_path / "demo" / name
        for file_name in ("metrics.json", "predictions.json", "overlays.png", "pck_image_px.png"):
            assert (folder / file_name).stat().st_size > 0, (name, file_name)
    whole = json.loads((tmp_path / "demo" / "real_dev_whole_image" / "metrics.json").read_text())
    assert whole["protocol"]["kind"].startswith("whole images") and whole["protocol"]["images"] == 3
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert 0.0 <= summary["synthetic_test"]["crop_pixels"]["auc_0_30"] <= 1.0
    assert result.video is not None and result.video.stat().st_size > 0
    assert "MediaPipe" in result.summary and "whole image (Predictor)" in result.summary


def test_the_training_sketch_trains_then_scores_its_own_checkpoint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_demo(
        out_dir=tmp_path / "demo", train_config=DEFAULT_CONFIG, test_count=4, real_annotations=None,
        overrides=TINY + (f"data.cache_dir={tmp_path / 'cache'}",), cache_dir=tmp_path / "cache",
    )
    assert str(result.model).endswith(".ckpt") and set(result.reports) == {"synthetic_test"}
    assert (tmp_path / "demo" / "train" / "loss_curves.png").is_file() and result.video is None
