import math
from pathlib import Path

import pytest
import torch
import yaml

from handpose.cli.main import main
from handpose.train.config import ConfigError, ExperimentConfig, ScheduleConfig, config_from_dict, load_config
from handpose.train.optim import WARMUP_START, build_lr_scheduler, lr_multiplier

CONFIGS = sorted(Path(__file__).resolve().parents[1].joinpath("configs").glob("*.yaml"))

MINIMAL = {
    "data": {
        "train": [{"format": "synth", "count": 8, "seed": 1}],
        "val": [{"format": "synth", "count": 4, "seed": 2}],
    },
    "model": {"name": "mobilenetv2_pose", "width_mult": 1.0},
}


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(MINIMAL))
    return path


def test_load_fills_defaults_and_names_the_experiment_after_the_file(config_file):
    config = load_config(config_file)
    assert config.name == "tiny"
    assert config.run_dir == Path("runs/tiny")
    assert config.codec.input_size == 128
    assert config.trainer.max_epochs > 0
    assert config.augment is not None and config.augment.flip_to_right


def test_overrides_set_nested_keys_list_items_and_model_kwargs(config_file):
    config = load_config(
        config_file,
        [
            "trainer.max_epochs=3",
            "model.width_mult=0.5",
            "data.train.0.weight=2",
            "optimizer.lr=1e-4",  # YAML 1.1 reads this as a string; float fields accept it
            "estimator.limbs.groups=G1",  # a section absent from the file, inside a free-form one
            "augment.scale_range=[0.9, 1.1]",
            "trainer.devices=2",
            "output_dir=/tmp/x",
        ],
    )
    assert config.trainer.max_epochs == 3
    assert config.model == {"name": "mobilenetv2_pose", "width_mult": 0.5}
    assert config.data.train[0].weight == 2.0
    assert config.optimizer.lr == pytest.approx(1e-4)
    assert config.estimator == {"name": "heatmap_2d", "limbs": {"groups": "G1"}}
    assert config.augment.scale_range == (0.9, 1.1)
    assert config.trainer.devices == 2
    assert config.run_dir == Path("/tmp/x")


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainer.max_epoch=3", "'trainer.max_epoch'"),
        ("traner.max_epochs=3", "'traner'"),
        ("data.train.3.weight=2", "'data.train.3'"),
        ("data.train.0.wieght=2", "'data.train.0.wieght'"),
        ("codec.sigma.x=1", "'codec.sigma.x'"),
        ("trainer.max_epochs=many", "trainer.max_epochs"),
        ("optimizer.name=lamb", "optimizer.name"),
        ("augment.scale_range=[2, 1]", "augment"),
        ("data.val.0.seed=1", "data.val.0.seed"),
        ("trainer.max_epochs", "dotted.key=value"),
    ],
)
def test_bad_overrides_are_errors_naming_the_key(config_file, override, message):
    with pytest.raises(ConfigError) as error:
        load_config(config_file, [override])
    assert message in str(error.value)


def test_unknown_key_in_the_file_is_an_error_naming_it(tmp_path):
    raw = {**MINIMAL, "codec": {"input_size": 64, "sigmaa": 2.0}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"'codec.sigmaa'") as error:
        load_config(path)
    assert str(path) in str(error.value)


def test_missing_sections_and_bad_values_are_reported():
    with pytest.raises(ConfigError, match="missing key 'data'"):
        config_from_dict({"name": "x", "model": {"name": "unet"}})
    with pytest.raises(ConfigError, match="model.name"):
        config_from_dict({**MINIMAL, "name": "x", "model": {"width_mult": 1.0}})
    with pytest.raises(ConfigError, match="data.train.0.path"):
        config_from_dict({**MINIMAL, "name": "x", "data": {"train": [{"format": "coco"}], "val": []}})
    with pytest.raises(ConfigError, match="data.train.0.format: unknown dataset format .cocoa."):
        config_from_dict({**MINIMAL, "name": "x", "data": {"train": [{"format": "cocoa", "path": "a"}]}})


def test_validation_must_not_repeat_training_data():
    with pytest.raises(ConfigError, match="same data as a training source"):
        config_from_dict(
            {
                **MINIMAL,
                "name": "x",
                "data": {"train": [{"format": "coco", "path": "a.json"}], "val": [{"format": "coco", "path": "a.json"}]},
            }
        )
    # A training holdout is a valid validation set on its own.
    config = config_from_dict(
        {**MINIMAL, "name": "x", "data": {"train": [{"format": "coco", "path": "a.json", "holdout": 0.1}]}}
    )
    assert config.data.val == []
    with pytest.raises(ConfigError, match="no validation source"):
        config_from_dict({**MINIMAL, "name": "x", "data": {"train": [{"format": "coco", "path": "a.json"}]}})


def test_crop_flip_and_augment_flip_must_agree(config_file):
    with pytest.raises(ConfigError, match="crop.flip_to_right"):
        load_config(config_file, ["crop.flip_to_right=false"])
    config = load_config(config_file, ["crop.flip_to_right=false", "augment.flip_to_right=false"])
    assert not config.crop.flip_to_right


def test_to_dict_round_trips_through_yaml(config_file):
    config = load_config(config_file, ["estimator.name=nsrm", "estimator.limbs.mode=ldm"])
    again = config_from_dict(yaml.safe_load(yaml.safe_dump(config.to_dict())))
    assert again == config
    assert isinstance(again, ExperimentConfig)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_configs_load(path):
    config = load_config(path)
    assert config.name == path.stem
    assert config.data.train and config.early_stopping.enabled


#: The configs benchmarks/compare_models.sh trains on one budget (docs/results.md's table).
COMPARED_CONFIGS = ("default", "unet_synth", "cpm_synth", "nsrm_synth")


def test_compared_configs_share_the_comparison_budget():
    configs = [load_config(path) for path in CONFIGS if path.stem in COMPARED_CONFIGS]
    assert [config.name for config in configs] == sorted(COMPARED_CONFIGS)
    first = configs[0]
    for config in configs[1:]:
        assert config.data.train == first.data.train and config.data.val == first.data.val, config.name
        assert config.trainer.max_epochs == first.trainer.max_epochs, config.name
        assert config.codec.input_size == first.codec.input_size, config.name


def test_cli_prints_the_resolved_config_and_rejects_unknown_keys(config_file, capsys):
    assert main(["train", str(config_file), "trainer.max_epochs=7", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["trainer"]["max_epochs"] == 7
    assert main(["train", str(config_file), "trainer.epochs=7"]) == 2
    assert "'trainer.epochs'" in capsys.readouterr().err


def test_cosine_schedule_warms_up_then_decays_to_its_floor():
    schedule = ScheduleConfig(name="cosine", warmup_steps=10, min_lr_ratio=0.05)
    factors = [lr_multiplier(step, schedule, total_steps=100, steps_per_epoch=10) for step in range(101)]
    assert factors[0] == pytest.approx(WARMUP_START * 1.0)
    assert factors[5] < factors[9] < factors[10]
    assert factors[100] == pytest.approx(0.05)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))


def test_step_schedule_multiplies_by_gamma_at_each_milestone_epoch():
    schedule = ScheduleConfig(name="step", milestones=[2, 4], gamma=0.1)
    factor = [lr_multiplier(epoch * 5, schedule, total_steps=math.inf, steps_per_epoch=5) for epoch in range(6)]
    assert factor == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def test_cosine_schedule_needs_a_finite_run():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ConfigError, match="max_epochs"):
        build_lr_scheduler(optimizer, ScheduleConfig(name="cosine"), math.inf, 10)
    scheduler = build_lr_scheduler(optimizer, ScheduleConfig(name="constant", warmup_steps=2), math.inf, 10)
    optimizer.step(), scheduler.step(), optimizer.step(), scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)
