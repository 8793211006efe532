"""One training run: a config in, a run folder with checkpoints, logs and curves out.

Run folder layout (``output_dir``)::

    config.yaml              the resolved config of the latest launch
    checkpoints/best.ckpt    lowest val_loss so far
    checkpoints/last.ckpt    end of the latest epoch; a new launch resumes from it
    loss_curves.png          losses per epoch, redrawn after each epoch
    tensorboard/version_N/   one TensorBoard run per launch
    csv/version_N/metrics.csv

Launching again on the same folder resumes from ``last.ckpt`` (epoch, step, optimiser, schedule,
early-stopping and best-checkpoint state); raise ``trainer.max_epochs`` to train further.
``init_from`` starts a new run from another run's network weights instead (fine-tuning with a
fresh optimiser and schedule); a resumed run ignores it, since ``last.ckpt`` holds newer weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import yaml
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.strategies import DDPStrategy, Strategy
from lightning.pytorch.utilities import rank_zero_info

from handpose.estimators import Estimator
from handpose.image_io import remove_stale_temporaries, write_bytes_atomic
from handpose.train.callbacks import LossCurves
from handpose.train.checkpoint import AtomicCheckpointIO, load_network_weights
from handpose.train.config import ConfigError, ExperimentConfig, config_from_dict
from handpose.train.datamodule import PoseDataModule
from handpose.train.module import PoseModule

#: Config sections that fix the network's weights: a run folder cannot resume under other values.
ARCHITECTURE_SECTIONS = ("estimator", "model", "codec")


@dataclass
class TrainResult:
    estimator: Estimator  # the trained estimator, in eval mode
    run_dir: Path
    best_checkpoint: Path | None  # None if validation never ran
    last_checkpoint: Path
    metrics: dict[str, float]  # the last epoch-level values of everything logged
    resumed_from: Path | None


def checkpoint_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def train(config: ExperimentConfig) -> TrainResult:
    """Train (or resume training) the experiment ``config`` describes."""
    run_dir = config.run_dir
    remove_stale_temporaries(checkpoint_dir(run_dir))  # what a run killed mid-save left behind
    resume, best = checkpoint_dir(run_dir) / "last.ckpt", checkpoint_dir(run_dir) / "best.ckpt"
    resume_from = resume if resume.is_file() else None
    if resume_from is not None:
        _check_same_architecture(config, run_dir / "config.yaml")
    pl.seed_everything(config.seed, workers=True)
    module = PoseModule(config.to_dict())
    if config.init_from is not None and resume_from is None:
        try:
            new, left_behind = load_network_weights(module.estimator, config.init_from)
        except ValueError as error:
            raise ConfigError(f"init_from: {error}") from None
        module.estimator.start_new_weights(new)
        for names, what in (
            (new, f"weights not in {config.init_from} start from their initialisation"),
            (left_behind, f"weights of {config.init_from} outside its network are left behind"),
        ):
            if names:
                rank_zero_info(f"init_from: {len(names)} {what} ({', '.join(names[:4])}{' ...' if len(names) > 4 else ''})")
    data = PoseDataModule(config, module.estimator)
    trainer = build_trainer(config)
    if trainer.is_global_zero:
        write_bytes_atomic(run_dir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False).encode())
    trainer.fit(module, datamodule=data, ckpt_path=resume_from)
    module.estimator.eval()
    return TrainResult(
        estimator=module.estimator,
        run_dir=run_dir,
        best_checkpoint=best if best.is_file() else None,
        last_checkpoint=resume,
        metrics={name: float(value) for name, value in trainer.callback_metrics.items()},
        resumed_from=resume_from,
    )


def build_trainer(config: ExperimentConfig) -> pl.Trainer:
    """A Trainer with handpose's checkpoints, logs, curves and early stopping for ``config``."""
    run_dir, settings = config.run_dir, config.trainer
    callbacks: list[pl.Callback] = [
        # Two checkpoint callbacks: Lightning's save_last only writes when the best one improves.
        ModelCheckpoint(
            dirpath=checkpoint_dir(run_dir), filename="best", monitor="val_loss", mode="min",
            save_top_k=1, enable_version_counter=False,
        ),
        ModelCheckpoint(dirpath=checkpoint_dir(run_dir), filename="last", save_top_k=1, enable_version_counter=False),
        LossCurves(run_dir / "loss_curves.png", title=f"Loss: {config.name}"),
        LearningRateMonitor(logging_interval="step"),
    ]
    if config.early_stopping.enabled:
        callbacks.append(
            EarlyStopping(
                monitor="val_loss", mode="min",
                patience=config.early_stopping.patience, min_delta=config.early_stopping.min_delta,
            )
        )
    return pl.Trainer(
        default_root_dir=run_dir,
        max_epochs=settings.max_epochs,
        max_steps=settings.max_steps,
        max_time=settings.max_time,
        accelerator=settings.accelerator,
        devices=settings.devices,
        num_nodes=settings.num_nodes,
        strategy=_strategy(config),
        sync_batchnorm=settings.sync_batchnorm,
        precision=settings.precision,
        gradient_clip_val=settings.gradient_clip_val,
        log_every_n_steps=settings.log_every_n_steps,
        check_val_every_n_epoch=settings.check_val_every_n_epoch,
        limit_train_batches=settings.limit_train_batches,
        limit_val_batches=settings.limit_val_batches,
        deterministic=settings.deterministic,
        enable_progress_bar=settings.enable_progress_bar,
        logger=[TensorBoardLogger(run_dir, name="tensorboard"), CSVLogger(run_dir, name="csv")],
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
    )


def _strategy(config: ExperimentConfig) -> str | Strategy:
    settings = config.trainer
    if settings.ddp_backend is None:
        return settings.strategy
    if settings.strategy != "ddp":
        raise ConfigError(f"trainer.ddp_backend applies to trainer.strategy=ddp, not {settings.strategy!r}")
    return DDPStrategy(process_group_backend=settings.ddp_backend)


def _check_same_architecture(config: ExperimentConfig, saved_path: Path) -> None:
    if not saved_path.is_file():
        return
    saved = config_from_dict(yaml.safe_load(saved_path.read_text())).to_dict()
    current = config.to_dict()
    for section in ARCHITECTURE_SECTIONS:
        if saved[section] != current[section]:
            raise ConfigError(
                f"{section}: differs from the run being resumed in {config.run_dir} "
                f"({saved[section]} there); choose another output_dir"
            )
