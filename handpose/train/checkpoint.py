"""Checkpoints: written atomically during training, and read back as a ready-to-run model.

A checkpoint alone rebuilds the model and its codec: the Lightning module saves the whole
experiment config as its hyperparameters (``hyper_parameters["config"]``).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch import nn

from handpose.codecs import GaussianHeatmapCodec
from handpose.image_io import open_atomic
from handpose.train.build import build_codec, build_pose_model
from handpose.train.config import ExperimentConfig, config_from_dict

#: Where the module stores the network inside a checkpoint's state dict.
MODEL_PREFIX = "model."


class AtomicCheckpointIO(TorchCheckpointIO):
    """Save to a temporary file in the target folder, then rename it over the target.

    A run killed mid-save (a pre-empted node, Ctrl-C) leaves the previous ``last.ckpt`` intact
    rather than a truncated file that would make the next run fail to resume.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        if not isinstance(get_filesystem(path), LocalFileSystem):
            return super().save_checkpoint(checkpoint, path, storage_options)  # remote stores write whole objects
        with open_atomic(path, durable=True) as f:
            torch.save(checkpoint, f)


@dataclass
class PoseModelBundle:
    """What evaluation and inference need from a checkpoint."""

    model: nn.Module  # in eval mode, on the CPU
    codec: GaussianHeatmapCodec  # decodes the model's "heatmaps" to input (crop) pixels
    input_size: int  # side of the square crop the model takes
    config: ExperimentConfig  # the experiment that trained it


def load_pose_model(path: str | Path) -> PoseModelBundle:
    """Rebuild the model and codec a training checkpoint was written with, weights loaded."""
    checkpoint = _read_checkpoint(path)
    try:
        config = config_from_dict(checkpoint["hyper_parameters"]["config"])
    except KeyError:
        raise ValueError(f"{path}: not a handpose training checkpoint (no config in its hyperparameters)") from None
    model = build_pose_model(config)
    model.load_state_dict(_network_weights(checkpoint))
    model.eval()
    return PoseModelBundle(model=model, codec=build_codec(config, model), input_size=config.codec.input_size, config=config)


def load_network_weights(model: nn.Module, path: str | Path) -> None:
    """Start ``model`` from the network weights of a training checkpoint (fine-tuning, as
    ``init_from`` asks); its optimiser, schedule and epoch are left behind."""
    try:
        model.load_state_dict(_network_weights(_read_checkpoint(path)))
    except RuntimeError as error:  # missing, unexpected or differently shaped weights
        raise ValueError(f"{path}: its network does not fit this config's model ({str(error).splitlines()[0]} ...)") from None


def _read_checkpoint(path: str | Path) -> dict[str, Any]:
    if not Path(path).is_file():
        raise ValueError(f"{path}: checkpoint file is missing")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise ValueError(f"{path}: not a readable checkpoint ({str(error).splitlines()[0]})") from error


def _network_weights(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {
        key[len(MODEL_PREFIX):]: value
        for key, value in checkpoint["state_dict"].items()
        if key.startswith(MODEL_PREFIX)
    }
