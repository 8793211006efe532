"""The README's main job end to end, shrunk to seconds: data, training, evaluation, report."""

import json

from handpose.demo import DEFAULT_CONFIG, run_demo

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


def test_demo_writes_a_report_with_measured_figures(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    real = tmp_path / "no_real_set.json"  # absent: the demo evaluates on synthetic data only
    result = run_demo(out_dir=tmp_path / "demo", config_path=DEFAULT_CONFIG, test_count=4,
                      real_annotations=real, overrides=TINY + (f"data.cache_dir={tmp_path / 'cache'}",))
    assert result.checkpoint.is_file()
    assert set(result.reports) == {"synthetic_test"}
    folder = tmp_path / "demo" / "synthetic_test"
    for name in ("metrics.json", "predictions.json", "overlays.png", "pck_crop_px.png"):
        assert (folder / name).stat().st_size > 0, name
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["num_samples"] >= 4
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    figures = summary["synthetic_test"]["crop_pixels"]
    assert 0.0 <= figures["auc_0_30"] <= 1.0 and figures["epe_mean"] > 0
    assert "synthetic_test" in result.summary and (tmp_path / "demo" / "train" / "loss_curves.png").is_file()
