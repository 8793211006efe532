"""What every 3D head on the heatmap network shares: a weights file rebuilds it, and one epoch of
training on a frozen or a learning 2D network logs its 3D figures."""

import math

import pytest
import torch

from handpose.estimators import build_estimator
from handpose.inference.weights import load_estimator, save_weights
from handpose.train.config import config_from_dict
from handpose.train.run import train

INPUT = 64
NETWORK = {"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 8}
#: estimator name, its settings section, its output, its own validation figure and training loss.
HEADS = [
    ("heatmap_bones_3d", "bones", "bones", "val_bone_angle_deg", "train_bone_loss"),
    ("heatmap_depth_25d", "depths", "depths", "val_depth_error", "train_depth_loss"),
]


@pytest.mark.parametrize(("name", "section", "output", "_figure", "_loss"), HEADS)
def test_a_weights_file_rebuilds_the_estimator_with_its_head(name, section, output, _figure, _loss, tmp_path, seeded_one_thread_torch):
    estimator = build_estimator(name, network=NETWORK, codec={"input_size": INPUT}, **{section: {"hidden": 8, "hand_size_mm": 90.0}})
    loaded = load_estimator(save_weights(estimator.eval(), tmp_path / "head.pt"))
    images = torch.randn(1, 3, INPUT, INPUT)
    with torch.no_grad():
        expected, got = estimator(images)[output], loaded(images)[output]
    assert loaded.head_settings == estimator.head_settings and torch.allclose(expected, got, atol=1e-2)


@pytest.mark.parametrize("freeze_2d", [False, True])
@pytest.mark.parametrize(("name", "section", "_output", "figure", "loss"), HEADS)
def test_one_epoch_of_training_logs_the_3d_figures(name, section, _output, figure, loss, freeze_2d, tmp_path, seeded_one_thread_torch):
    config = config_from_dict(
        {
            "name": f"{name}-tiny",
            "data": {
                "train": [{"format": "synth", "count": 8, "seed": 1, "size": 64}],
                "val": [{"format": "synth", "count": 4, "seed": 2, "size": 64}],
                "cache_dir": str(tmp_path / "cache"),
                "batch_size": 4,
                "workers": 0,
            },
            "model": NETWORK,
            "estimator": {"name": name, section: {"hidden": 8, "freeze_2d": freeze_2d}},
            "codec": {"input_size": INPUT, "sigma": 1.5},
            "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "enable_progress_bar": False},
            "output_dir": str(tmp_path / "run"),
        }
    )
    result = train(config)
    for metric in (loss, figure, "val_mpjpe_scale_mm", "val_auc_3d", "val_epe_px"):
        assert math.isfinite(result.metrics[metric]), metric
    assert 0.0 <= result.metrics["val_auc_3d"] <= 1.0
    assert load_estimator(result.last_checkpoint).head_settings == result.estimator.head_settings
