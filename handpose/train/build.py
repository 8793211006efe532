"""The network and target codecs an experiment config names, built the same way for training and
for loading a checkpoint, so both always agree."""

from __future__ import annotations

from torch import nn

from handpose.codecs import LIMB_GROUPS, GaussianHeatmapCodec, LimbMaskCodec
from handpose.models import build_model
from handpose.train.config import ConfigError, ExperimentConfig


def build_pose_model(config: ExperimentConfig) -> nn.Module:
    """The network of ``config.model``, sized for ``codec.input_size`` and, for NSRM, with as many
    mask channels as ``limbs.groups`` gives."""
    kwargs = config.model_kwargs
    if "input_size" in kwargs:
        raise ConfigError("model.input_size: set the crop size once, as codec.input_size")
    kwargs["input_size"] = config.codec.input_size
    if config.limbs is not None:
        if "mask_channels" in kwargs:
            raise ConfigError("model.mask_channels: it follows from limbs.groups; leave it out")
        kwargs["mask_channels"] = len(LIMB_GROUPS[config.limbs.groups])
    try:
        return build_model(config.model["name"], **kwargs)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"model: {error}") from None


def model_heatmap_size(config: ExperimentConfig, model: nn.Module) -> int:
    """The heatmap side: ``codec.heatmap_size`` if given, which must match the model's stride."""
    derived = config.codec.input_size // model.stride
    if config.codec.input_size % model.stride:
        raise ConfigError(f"codec.input_size {config.codec.input_size} is not a multiple of the model stride {model.stride}")
    if config.codec.heatmap_size not in (None, derived):
        raise ConfigError(
            f"codec.heatmap_size {config.codec.heatmap_size} does not match the model: input "
            f"{config.codec.input_size} / stride {model.stride} = {derived}"
        )
    return derived


def build_codec(config: ExperimentConfig, model: nn.Module) -> GaussianHeatmapCodec:
    """The heatmap codec of ``config.codec`` on ``model``'s output grid."""
    codec = config.codec
    try:
        return GaussianHeatmapCodec(
            codec.input_size, model_heatmap_size(config, model), codec.sigma, codec.unit_peak, codec.decoder
        )
    except ValueError as error:
        raise ConfigError(f"codec: {error}") from None


def build_limb_codec(config: ExperimentConfig, heatmap_size: int) -> LimbMaskCodec:
    """NSRM's limb-mask targets of ``config.limbs`` (which must be set) on the heatmap grid."""
    limbs = config.limbs
    if limbs is None:
        raise ConfigError("limbs: this experiment has no limb-mask section")
    return LimbMaskCodec(config.codec.input_size, heatmap_size, limbs.mode, limbs.groups, limbs.width)
