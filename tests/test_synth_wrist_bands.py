"""``bands_at_wrist``: the generator's option that puts wrist bands from the wrist crease down, on
more forearms; every layer takes it (sampling, scenes, cache names, configs, the command line),
and the default sets stay exactly what they were."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from handpose.cli.main import main
from handpose.synth.cache import synth_set_folder
from handpose.synth.hand_shape import sample_hand_shape
from handpose.synth.scene import render_scene
from handpose.synth.surface import BANDS, sample_arm_wear
from handpose.train.config import ConfigError, SourceConfig


@pytest.mark.parametrize("at_wrist", [False, True])
def test_bands_are_worn_as_often_and_as_near_the_wrist_as_the_option_says(at_wrist):
    rng = np.random.default_rng(0)
    share, nearest, farthest = BANDS[at_wrist]
    starts, count = [], 2000
    for _ in range(count):
        shape = sample_hand_shape(rng)
        band = sample_arm_wear(rng, shape, at_wrist).band
        if band is not None:
            starts.append(band[0] / shape.scale())
    starts = np.array(starts)
    assert abs(len(starts) / count - share) < 0.04
    assert starts.min() >= nearest - 1e-9 and starts.max() <= farthest + 1e-9
    assert (starts < 22.0).any() == at_wrist  # only the option puts bands at the wrist crease


def test_scenes_with_the_option_are_deterministic_and_some_differ_from_the_default():
    plain = [render_scene(1, index, 64).image for index in range(8)]
    banded = [render_scene(1, index, 64, bands_at_wrist=True).image for index in range(8)]
    assert all(np.array_equal(a, render_scene(1, i, 64).image) for i, a in enumerate(plain))
    assert all(np.array_equal(a, render_scene(1, i, 64, bands_at_wrist=True).image) for i, a in enumerate(banded))
    assert any(not np.array_equal(a, b) for a, b in zip(plain, banded))


def test_sets_with_the_option_are_cached_apart():
    assert synth_set_folder(10, 0, 64, "c").name == synth_set_folder(10, 0, 64, "c", bands_at_wrist=False).name
    assert synth_set_folder(10, 0, 64, "c", bands_at_wrist=True).name.endswith("-wristbands")


def test_configs_take_the_option_for_synth_hands_scenes_only():
    assert SourceConfig(format="synth", bands_at_wrist=True).bands_at_wrist
    with pytest.raises(ConfigError, match="bands_at_wrist"):
        SourceConfig(format="synth", scene_kind="detection", bands_at_wrist=True)
    with pytest.raises(ConfigError, match="bands_at_wrist"):
        SourceConfig(format="coco", path="a.json", bands_at_wrist=True)
    with pytest.raises(ConfigError, match="bands_at_wrist"):
        SourceConfig(format="synth", bands_at_wrist="yes")  # type: ignore[arg-type]


def test_the_command_line_writes_banded_sets_and_refuses_the_option_elsewhere(tmp_path: Path, capsys):
    assert main(["synth", "--out", str(tmp_path / "banded"), "--count", "2", "--size", "64", "--bands-at-wrist"]) == 0
    assert (tmp_path / "banded" / "train.json").is_file()
    argv = ["synth", "--out", str(tmp_path / "x"), "--count", "2", "--scene-kind", "detection", "--bands-at-wrist"]
    assert main(argv) == 2
    assert "--bands-at-wrist" in capsys.readouterr().err
