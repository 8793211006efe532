"""The optimiser and learning-rate schedule an experiment config names."""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import partial

import torch

from handpose.train.config import ConfigError, OptimizerConfig, ScheduleConfig

#: Warm-up starts at this fraction of the learning rate.
WARMUP_START = 0.01


OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


def build_optimizer(params: Iterable[torch.nn.Parameter], config: OptimizerConfig) -> torch.optim.Optimizer:
    kwargs = {"lr": config.lr, "weight_decay": config.weight_decay}
    if config.name in ("sgd", "rmsprop"):
        kwargs["momentum"] = config.momentum
    return OPTIMIZERS[config.name](params, **kwargs)


def lr_multiplier(step: int, config: ScheduleConfig, total_steps: float, steps_per_epoch: int) -> float:
    """Factor on the base learning rate after ``step`` optimiser steps.

    Stepping per optimiser step (not per epoch) lets one rule serve runs bounded by epochs or by
    steps, and makes warm-up work however short the epochs are.
    """
    if config.name == "cosine":
        progress = min(step / max(total_steps, 1), 1.0)
        factor = config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    elif config.name == "step":
        epoch = step // max(steps_per_epoch, 1)
        factor = config.gamma ** sum(epoch >= m for m in config.milestones)
    else:
        factor = 1.0
    if step < config.warmup_steps:
        factor *= WARMUP_START + (1 - WARMUP_START) * step / config.warmup_steps
    return factor


def build_lr_scheduler(
    optimizer: torch.optim.Optimizer, config: ScheduleConfig, total_steps: float, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step scheduler; ``total_steps`` may be infinite (a run bounded by time only)."""
    if config.name == "cosine" and not math.isfinite(total_steps):
        raise ConfigError("schedule.name: cosine needs a run length; set trainer.max_epochs or trainer.max_steps")
    rule = partial(lr_multiplier, config=config, total_steps=total_steps, steps_per_epoch=steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, rule)
