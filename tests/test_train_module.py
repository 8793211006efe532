"""Building estimators (network, targets, loss) from configs, without training."""

import tokenize
from pathlib import Path

import numpy as np
import pytest
import torch

from handpose.estimators import HeatmapEstimator
from handpose.structures import HandSample
from handpose.train.build import build_estimator_from_config
from handpose.train.config import ConfigError, apply_overrides, load_config
from handpose.train.module import PoseModule

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))


def batch_for(module: PoseModule, size: int = 2) -> dict:
    """The estimator's declared targets for random labelled keypoints inside the crop, as the
    dataset would give them."""
    rng = np.random.default_rng(0)
    side = module.config.codec.input_size
    keypoints = rng.uniform(0.2 * side, 0.8 * side, (size, 21, 2)).astype(np.float32)
    visibility = np.full((size, 21), 2, dtype=np.int8)
    crops = [  # for codecs that encode the whole cropped sample (3D targets)
        HandSample(
            image=np.zeros((side, side, 3), np.uint8), keypoints_2d=keypoints[i], visibility=visibility[i],
            hand_side="right", box=np.array([0.0, 0.0, side, side]), source="random", sample_id=str(i),
            keypoints_3d=rng.uniform(-50, 50, (21, 3)) + [0.0, 0.0, 500.0], K=np.diag([300.0, 300.0, 1.0]),
        )
        for i in range(size)
    ]

    def encoded(codec) -> dict[str, torch.Tensor]:
        if hasattr(codec, "encode_crop"):
            items = [codec.encode_crop(crop) for crop in crops]
            return {key: torch.from_numpy(np.stack([item[key] for item in items])) for key in items[0]}
        return {key: torch.from_numpy(value) for key, value in codec.encode(keypoints, visibility).items()}

    targets = {name: encoded(codec) for name, codec in module.estimator.targets.items()}
    return {
        "image": torch.randn(size, 3, side, side),
        "targets": targets,
        "keypoints": torch.from_numpy(keypoints),
        "visibility": torch.from_numpy(visibility),
    }


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_config_builds_a_network_that_fits_its_codec(path):
    config = load_config(path)
    module = PoseModule(config.to_dict())
    batch = batch_for(module)
    with torch.no_grad():
        outputs = module.estimator(batch["image"])
        terms = module.estimator.loss(outputs, batch, epoch=0)
    width, height = module.estimator.codec.heatmap_size
    assert outputs["heatmaps"].shape == (2, 21, height, width)
    assert all(torch.isfinite(value) for value in terms.values())
    if "limb_masks" in module.estimator.targets:
        assert outputs["limb_masks"][-1].shape[1] == 7  # G1G6: hand, five fingers, palm
        assert "structure_loss" in terms


def test_heatmap_size_must_match_the_model_stride():
    config = load_config(CONFIG_DIR / "default.yaml", ["codec.heatmap_size=64"])
    with pytest.raises(ConfigError, match="codec.heatmap_size 64 .* stride 4 = 32"):
        build_estimator_from_config(config)


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
        build_estimator_from_config(config)


def test_limb_groups_choose_the_nsrm_mask_channels():
    config = load_config(CONFIG_DIR / "nsrm_synth.yaml", ["estimator.limbs.groups=G1", "estimator.limbs.mode=ldm"])
    assert build_estimator_from_config(config).network.mask_channels == 1
    with pytest.raises(ConfigError, match="model.mask_channels"):
        build_estimator_from_config(apply_overrides(config, ["model.mask_channels=7"]))
    with pytest.raises(ConfigError, match="estimator.limbs.colour"):
        build_estimator_from_config(apply_overrides(config, ["estimator.limbs.colour=1"]))
    with pytest.raises(ConfigError, match="estimator.name: unknown estimator 'nsrn'"):
        build_estimator_from_config(apply_overrides(config, ["estimator.name=nsrn"]))


def test_heatmap_loss_is_the_configured_one_and_supervises_every_stage():
    target = torch.rand(2, 21, 8, 8)
    outputs = {"heatmaps": target.clone(), "stages": [torch.zeros_like(target), target.clone()]}
    batch = {"targets": {"heatmaps": {"heatmaps": target, "weights": torch.ones(2, 21)}}}
    network = {"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 32}
    final_only = HeatmapEstimator(network, {"input_size": 32}, loss={"heatmap": "iou", "intermediate": False})
    assert float(final_only.loss(outputs, batch, epoch=0)["loss"]) == pytest.approx(0.0, abs=1e-6)
    every_stage = HeatmapEstimator(network, {"input_size": 32}, loss={"heatmap": "mse", "intermediate": True})
    assert float(every_stage.loss(outputs, batch, epoch=0)["loss"]) == pytest.approx(float(target.pow(2).mean()))


def test_structure_weight_decays_in_steps():
    config = load_config(CONFIG_DIR / "nsrm_synth.yaml")
    estimator = PoseModule(config.to_dict()).estimator
    limbs = config.estimator["limbs"]
    weights = [estimator.structure_weight(epoch) for epoch in range(2 * limbs["decay_every"])]
    assert weights[0] == pytest.approx(limbs["weight"])
    assert weights[limbs["decay_every"] - 1] == pytest.approx(limbs["weight"])
    assert weights[limbs["decay_every"]] == pytest.approx(limbs["weight"] * limbs["decay"])


def test_no_model_is_named_outside_its_own_files():
    """Training, evaluation, inference and data code know estimators only through the interface:
    no identifier or short string literal (docstrings and comments aside) names a model."""
    package = Path(__file__).resolve().parents[1] / "handpose"
    models = ("nsrm", "limb_mask", "limbmask", "limbs", "mobilenetv2", "unet", "cpm")
    for folder in ("train", "evaluation", "inference", "data", "cli"):
        for path in (package / folder).rglob("*.py"):
            with path.open("rb") as f:
                tokens = list(tokenize.tokenize(f.readline))
            code = [t.string.lower() for t in tokens if t.type == tokenize.NAME or (t.type == tokenize.STRING and len(t.string) < 40)]
            named = sorted({m for m in models for text in code if m in text})
            assert not named, f"{path.relative_to(package)} names {named}"
