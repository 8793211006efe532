"""Pose networks in plain PyTorch, one self-contained file each."""

from __future__ import annotations

import torch
from torch import nn

from handpose.models.cpm import CPM
from handpose.models.mobilenetv2_pose import MobileNetV2Pose
from handpose.models.nsrm import NSRM
from handpose.models.unet import UNet

_MODELS: dict[str, type[nn.Module]] = {
    "mobilenetv2_pose": MobileNetV2Pose,
    "unet": UNet,
    "cpm": CPM,
    "nsrm": NSRM,
}

#: Names :func:`build_model` accepts; the first is handpose's default model.
MODEL_NAMES: tuple[str, ...] = tuple(_MODELS)


def build_model(name: str, **kwargs: object) -> nn.Module:
    """The network called ``name``, built with its constructor's keyword arguments.

    Weights are laid out channels-last: on CPU that makes training steps 1.1-1.8x faster for
    every model here (oneDNN's convolutions are NHWC-native), and contiguous inputs still work.
    """
    try:
        model_class = _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}") from None
    return model_class(**kwargs).to(memory_format=torch.channels_last)


__all__ = ["CPM", "MODEL_NAMES", "MobileNetV2Pose", "NSRM", "UNet", "build_model"]
