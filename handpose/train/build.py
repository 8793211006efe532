"""The estimator an experiment config names, built the same way for training and for reading a
training checkpoint back, so both always agree."""

from __future__ import annotations

import dataclasses

from handpose.estimators import Estimator, build_estimator
from handpose.train.config import ConfigError, ExperimentConfig


def estimator_spec(config: ExperimentConfig) -> dict:
    """``{"name": ..., "kwargs": ...}`` of the estimator of ``config``: its own options (the
    ``estimator`` section) plus the network, codec, crop and loss sections."""
    options = {key: value for key, value in config.estimator.items() if key != "name"}
    kwargs = {
        "network": dict(config.model),
        "codec": dataclasses.asdict(config.codec),
        "crop": dataclasses.asdict(config.crop),
        "loss": dataclasses.asdict(config.loss),
        **options,
    }
    return {"name": config.estimator["name"], "kwargs": kwargs}


def build_estimator_from_config(config: ExperimentConfig) -> Estimator:
    """The estimator of ``config``; anything it refuses is a ConfigError naming the key."""
    spec = estimator_spec(config)
    try:
        return build_estimator(spec["name"], **spec["kwargs"])
    except TypeError as error:  # an option the estimator does not take
        raise ConfigError(f"estimator: {error}") from None
    except ValueError as error:
        raise ConfigError(str(error)) from None
