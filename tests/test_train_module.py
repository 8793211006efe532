"""Building network, codec and objective from configs, without training."""

from pathlib import Path

import numpy as np
import pytest
import torch

from handpose.train.build import build_codec, build_pose_model
from handpose.train.config import ConfigError, LimbConfig, LossConfig, apply_overrides, load_config
from handpose.train.module import PoseModule
from handpose.train.objective import PoseObjective

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))


def batch_for(module: PoseModule, size: int = 2) -> dict:
    """Targets for random labelled keypoints inside the crop, as the dataset would give them."""
    rng = np.random.default_rng(0)
    side = module.config.codec.input_size
    keypoints = rng.uniform(0.2 * side, 0.8 * side, (size, 21, 2)).astype(np.float32)
    visibility = np.full((size, 21), 2, dtype=np.int8)
    targets = module.codec.encode(keypoints, visibility)
    return {
        "image": torch.randn(size, 3, side, side),
        "heatmaps": torch.from_numpy(targets["heatmaps"]),
        "weights": torch.from_numpy(targets["weights"]),
        "keypoints": torch.from_numpy(keypoints),
        "visibility": torch.from_numpy(visibility),
    }


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_config_builds_a_network_that_fits_its_codec(path):
    config = load_config(path)
    module = PoseModule(config.to_dict())
    batch = batch_for(module)
    with torch.no_grad():
        outputs = module.model(batch["image"])
        terms = module.objective(outputs, batch, epoch=0)
    width, height = module.codec.heatmap_size
    assert outputs["heatmaps"].shape == (2, 21, height, width)
    assert all(torch.isfinite(value) for value in terms.values())
    if config.limbs is not None:
        assert outputs["limb_masks"][-1].shape[1] == 7  # G1G6: hand, five fingers, palm
        assert "structure_loss" in terms


def test_heatmap_size_must_match_the_model_stride():
    config = load_config(CONFIG_DIR / "default.yaml", ["codec.heatmap_size=64"])
    with pytest.raises(ConfigError, match="codec.heatmap_size 64 .* stride 4 = 32"):
        build_codec(config, build_pose_model(config))


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.input_size=96", "model.input_size"),
        ("model.widht_mult=0.5", "widht_mult"),
        ("model.name=resnet", "resnet"),
    ],
)
def test_bad_model_settings_are_config_errors(override, message):
    config = load_config(CONFIG_DIR / "default.yaml", [override])
    with pytest.raises(ConfigError, match=message):
        build_pose_model(config)


def test_limb_groups_choose_the_nsrm_mask_channels():
    config = load_config(CONFIG_DIR / "nsrm_synth.yaml", ["limbs.groups=G1", "limbs.mode=ldm"])
    assert build_pose_model(config).mask_channels == 1
    with pytest.raises(ConfigError, match="model.mask_channels"):
        build_pose_model(apply_overrides(config, ["model.mask_channels=7"]))


def test_objective_uses_the_configured_heatmap_loss_and_supervises_every_stage():
    target = torch.rand(2, 21, 8, 8)
    outputs = {"heatmaps": target.clone(), "stages": [torch.zeros_like(target), target.clone()]}
    batch = {"heatmaps": target, "weights": torch.ones(2, 21)}
    final_only = PoseObjective(LossConfig(heatmap="iou", intermediate=False))
    assert float(final_only(outputs, batch, epoch=0)["loss"]) == pytest.approx(0.0, abs=1e-6)
    every_stage = PoseObjective(LossConfig(heatmap="mse", intermediate=True))
    assert float(every_stage(outputs, batch, epoch=0)["loss"]) == pytest.approx(float(target.pow(2).mean()))


def test_structure_weight_decays_in_steps():
    config = load_config(CONFIG_DIR / "nsrm_synth.yaml")
    module = PoseModule(config.to_dict())
    limbs: LimbConfig = config.limbs
    weights = [module.objective.structure_weight(epoch) for epoch in range(2 * limbs.decay_every)]
    assert weights[0] == pytest.approx(limbs.weight)
    assert weights[limbs.decay_every - 1] == pytest.approx(limbs.weight)
    assert weights[limbs.decay_every] == pytest.approx(limbs.weight * limbs.decay)
