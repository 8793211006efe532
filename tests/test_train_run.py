"""End-to-end training on tiny synthetic data: files written, resume, checkpoint loading, DDP."""

import csv
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import handpose.synth
from handpose.cli.main import main
from handpose.inference.weights import load_estimator
from handpose.synth.cache import COMPLETE_MARKER
from handpose.train.checkpoint import AtomicCheckpointIO
from handpose.train.config import ConfigError, apply_overrides, config_from_dict
from handpose.train.datamodule import PoseDataModule
from handpose.train.module import PoseModule
from handpose.train.run import train
from handpose.train.sources import prepare_synth, read_source, resolve_sources, synth_folder

BATCH = 4


def tiny_config(root: Path, **sections) -> dict:
    """Tiny network, 64-pixel crops, a dozen synthetic images: seconds per epoch on a CPU."""
    config = {
        "name": "tiny",
        "data": {
            "train": [{"format": "synth", "count": 12, "seed": 1, "size": 64}],
            "val": [{"format": "synth", "count": 4, "seed": 2, "size": 64}],
            "cache_dir": str(root / "cache"),
            "batch_size": BATCH,
            "workers": 0,
        },
        "model": {"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 8},
        "codec": {"input_size": 64, "sigma": 1.5},
        "trainer": {
            "max_epochs": 1,
            "accelerator": "cpu",
            "devices": 1,
            "log_every_n_steps": 1,
            "enable_progress_bar": False,
        },
        "output_dir": str(root / "run"),
    }
    config.update(sections)
    return config


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny networks gain nothing from threads, whose OpenMP spinning slows a shared small machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    config = config_from_dict(tiny_config(root))
    return config, train(config)


def read_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def training_samples(config) -> int:
    """Hands in the training set (a synthetic image may hold two)."""
    return len(read_source(config.data.train[0], config.data.cache_dir))


def test_run_writes_checkpoints_logs_and_loss_curve(trained):
    config, result = trained
    run = config.run_dir
    assert result.best_checkpoint == run / "checkpoints" / "best.ckpt" and result.best_checkpoint.is_file()
    assert result.last_checkpoint == run / "checkpoints" / "last.ckpt" and result.last_checkpoint.is_file()
    assert result.resumed_from is None
    assert not [p for p in (run / "checkpoints").iterdir() if p.suffix == ".tmp"]
    with open(run / "csv" / "version_0" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for column in ("train_loss_step", "val_loss", "val_epe_px", "val_auc"):
        assert any(row.get(column) for row in rows), column
    assert list((run / "tensorboard" / "version_0").glob("events.out.tfevents.*"))
    assert (run / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert config_from_dict(yaml.safe_load((run / "config.yaml").read_text())) == config
    for name in ("val_loss", "val_epe_px", "val_auc"):
        assert torch.isfinite(torch.tensor(result.metrics[name])), name
    assert 0.0 <= result.metrics["val_auc"] <= 1.0


def test_load_estimator_reproduces_the_trained_network_from_its_checkpoint(trained):
    config, result = trained
    estimator = load_estimator(result.last_checkpoint)
    assert not estimator.training
    assert estimator.crop.input_size == 64 and estimator.codec.heatmap_size == (16, 16)
    assert estimator.spec() == result.estimator.spec()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = result.estimator(images)["heatmaps"]
        actual = estimator(images)["heatmaps"]
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)
    keypoints, scores = estimator.decode({"heatmaps": actual})
    assert keypoints.shape == (2, 21, 2) and scores.shape == (2, 21)


def test_rerunning_resumes_from_the_last_checkpoint(trained, tmp_path):
    config, first = trained
    shutil.copytree(config.run_dir, tmp_path / "run")
    config = apply_overrides(config, [f"output_dir={tmp_path / 'run'}", "trainer.max_epochs=2"])
    before = read_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    steps = training_samples(config) // BATCH  # whole batches only
    assert (before["epoch"], before["global_step"]) == (0, steps)

    result = train(config)

    assert result.resumed_from == tmp_path / "run" / "checkpoints" / "last.ckpt"
    after = read_checkpoint(result.last_checkpoint)
    assert (after["epoch"], after["global_step"]) == (1, 2 * steps)
    # Adam's step counter continues from the first run's: the optimiser state was restored.
    adam_steps = {float(state["step"]) for state in after["optimizer_states"][0]["state"].values()}
    assert adam_steps == {2.0 * steps}
    assert after["lr_schedulers"][0]["last_epoch"] == 2 * steps
    records = after["callbacks"]["LossCurves"]["records"]
    assert [r["epoch"] for r in records] == [0.0, 1.0]
    assert (tmp_path / "run" / "csv" / "version_1" / "metrics.csv").is_file()


def test_resume_refuses_a_different_network(trained, tmp_path):
    config, _ = trained
    shutil.copytree(config.run_dir, tmp_path / "run")
    config = apply_overrides(config, [f"output_dir={tmp_path / 'run'}", "model.width_mult=0.5"])
    with pytest.raises(ConfigError, match="model: differs"):
        train(config)


def test_nsrm_trains_with_its_decaying_structure_loss(tmp_path):
    config = config_from_dict(
        tiny_config(
            tmp_path,
            model={"name": "nsrm", "width_mult": 0.05, "num_mask_stages": 1, "num_keypoint_stages": 2},
            estimator={"name": "nsrm", "limbs": {"mode": "ldm", "groups": "G1", "weight": 0.1, "decay": 0.5, "decay_every": 1}},
            trainer={"max_epochs": 2, "accelerator": "cpu", "devices": 1, "enable_progress_bar": False},
        )
    )
    result = train(config)
    assert result.metrics["train_structure_weight"] == pytest.approx(0.05)  # 0.1 * 0.5 ** epoch 1
    assert result.metrics["train_structure_loss"] > 0
    assert result.metrics["train_loss"] > result.metrics["train_heatmap_loss"]
    estimator = load_estimator(result.last_checkpoint)
    assert estimator.network.mask_channels == 1 and estimator.codec.heatmap_size == (8, 8)


def test_training_holdout_is_validated_on_and_never_trained_on(tmp_path):
    config = config_from_dict(
        tiny_config(tmp_path, data={"train": [{"format": "synth", "count": 10, "seed": 1, "size": 64, "holdout": 0.3}],
                                    "cache_dir": str(tmp_path / "cache")})
    )
    prepare_synth(config.data.train[0], config.data.cache_dir)
    train_parts, val_parts = resolve_sources(config.data)
    train_images = {s.extras["group"] for s in train_parts[0].samples}
    val_images = {s.extras["group"] for s in val_parts[0].samples}
    assert train_images and val_images and not train_images & val_images


def test_synthetic_sets_are_generated_once_and_incomplete_ones_again(tmp_path, monkeypatch):
    source = config_from_dict(tiny_config(tmp_path)).data.val[0]
    annotation = prepare_synth(source, tmp_path / "cache")
    assert annotation.is_file() and annotation.parent == synth_folder(source, tmp_path / "cache")

    def refuse(*args, **kwargs):
        raise AssertionError("a complete set was generated again")

    monkeypatch.setattr(handpose.synth, "generate_dataset", refuse)
    assert prepare_synth(source, tmp_path / "cache") == annotation
    monkeypatch.undo()

    (annotation.parent / COMPLETE_MARKER).unlink()  # as if generation had been interrupted
    assert prepare_synth(source, tmp_path / "cache") == annotation
    assert (annotation.parent / COMPLETE_MARKER).is_file()
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"weights": torch.ones(3)}, path)

    def interrupted_save(obj, f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"weights": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert torch.equal(torch.load(path, weights_only=True)["weights"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_with_gloo(tmp_path):
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(tiny_config(tmp_path)))
    command = [
        sys.executable, "-m", "handpose.cli.main", "train", str(config_path),
        "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp", "trainer.ddp_backend=gloo",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "distributed_backend=gloo" in done.stdout + done.stderr
    assert "Starting with 2 processes" in done.stdout + done.stderr
    last = read_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    # The two processes split the training set (padded to an even size) and step together.
    per_process = math.ceil(training_samples(config_from_dict(tiny_config(tmp_path))) / 2)
    assert last["global_step"] == per_process // BATCH
    assert (tmp_path / "run" / "checkpoints" / "best.ckpt").is_file()


def test_training_sources_are_mixed_by_weight(tmp_path):
    sources = [
        {"format": "synth", "count": 4, "seed": 1, "size": 64, "weight": 3.0},
        {"format": "synth", "count": 6, "seed": 3, "size": 64, "weight": 1.0},
    ]
    raw = tiny_config(tmp_path)
    raw["data"].update(train=sources, samples_per_epoch=40)
    config = config_from_dict(raw)
    module = PoseModule(config.to_dict())
    data = PoseDataModule(config, module.estimator)
    data.prepare_data()
    data.setup("fit")
    loader = data.train_dataloader()
    sizes = [len(part) for part in loader.dataset.datasets]
    weights = loader.sampler.weights
    assert loader.sampler.num_samples == 40
    assert float(weights[: sizes[0]].sum()) == pytest.approx(0.75)
    assert float(weights[sizes[0]:].sum()) == pytest.approx(0.25)


def test_cli_reports_unreadable_data_naming_the_file(tmp_path, capsys):
    raw = tiny_config(tmp_path)
    raw["data"]["train"] = [{"format": "coco", "path": str(tmp_path / "missing.json")}]
    config_path = tmp_path / "missing.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    assert main(["train", str(config_path)]) == 1
    assert "missing.json" in capsys.readouterr().err


def test_init_from_starts_a_new_run_from_another_runs_weights(trained, tmp_path):
    config, first = trained
    # A learning rate of zero keeps the weights where init_from put them.
    config = apply_overrides(config, [
        f"output_dir={tmp_path / 'finetune'}", f"init_from={first.best_checkpoint}", "optimizer.lr=0.0",
    ])
    result = train(config)
    assert result.resumed_from is None
    expected = load_estimator(first.best_checkpoint).state_dict()
    actual = result.estimator.state_dict()
    weights = [name for name in expected if not name.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert weights
    for name in weights:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0, msg=name)
    assert read_checkpoint(result.last_checkpoint)["epoch"] == 0  # a fresh run, not the first one resumed


def test_init_from_refuses_a_checkpoint_of_another_network(trained, tmp_path):
    config, first = trained
    config = apply_overrides(config, [
        f"output_dir={tmp_path / 'finetune'}", f"init_from={first.best_checkpoint}", "model.width_mult=0.5",
    ])
    with pytest.raises(ConfigError, match=r"init_from: .*best\.ckpt: its network does not fit"):
        train(config)
    missing = apply_overrides(config, [f"init_from={tmp_path / 'nothing.ckpt'}"])
    with pytest.raises(ConfigError, match="nothing.ckpt: weights file is missing"):
        train(missing)


def test_init_from_starts_a_new_head_on_a_trained_network_and_a_2d_run_leaves_it_behind(trained, tmp_path):
    """2D -> 3D: the 3D head starts fresh on the trained network; 3D -> 2D: the network is taken
    and the 3D head left behind."""
    config, first = trained
    bones = apply_overrides(config, [
        f"output_dir={tmp_path / 'bones'}", f"init_from={first.best_checkpoint}", "optimizer.lr=0.0",
        "estimator.name=heatmap_bones_3d",
    ])
    with_3d = train(bones)
    back_to_2d = train(apply_overrides(config, [
        f"output_dir={tmp_path / 'back'}", f"init_from={with_3d.best_checkpoint}", "optimizer.lr=0.0",
    ]))
    for source, result in ((first.best_checkpoint, with_3d), (with_3d.best_checkpoint, back_to_2d)):
        expected = load_estimator(source).state_dict()
        actual = result.estimator.state_dict()
        assert {name.split(".")[0] for name in set(actual) ^ set(expected)} == {"bone_head"}
        for name in set(actual) & set(expected):
            if not name.endswith(("running_mean", "running_var", "num_batches_tracked")):
                torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0, msg=name)
