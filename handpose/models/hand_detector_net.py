"""A small dense convolutional network for centre-based hand detection (CenterNet-style heads).

Backbone: plain 3x3 convolutions with BN and ReLU, one stride-2 convolution per stage followed by
``blocks[i]`` residual pairs of 3x3 convolutions, strides 2 to 32. Dense rather than MobileNetV2's
depthwise blocks: on the CPUs handpose trains on, bf16 runs dense convolutions 2.6-4.3x faster
than depthwise ones, so at equal step time a dense network can be much wider (measured in the
docstring of :mod:`handpose.estimators.hand_detector`).

Neck: a top-down path as in FPN (Lin et al., CVPR 2017): 1x1 projections of the stride-32, 16, 8
(and 4) features to ``head_channels``, each added to the nearest-upsampled coarser sum, then a
3x3 convolution at the output ``stride`` (4 or 8). A hand filling the frame is seen by the
stride-32 features, a 20-pixel hand by the fine ones.

Heads (CenterNet, Zhou et al. 2019): one shared 3x3 convolution, then a 1x1 convolution to six
maps at the output stride: ``heatmap`` (1, centre logits), ``offset`` (2), ``size`` (2, log box
size in cells) and ``side`` (1, logit of a right hand); see :mod:`handpose.codecs.box_centers`.
The heatmap bias starts at -2.19 (a prior of 0.1, CenterNet's), so the first steps do not drown
in the loss of the background.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: Output maps and their channels, in the order of the last convolution's channels.
HEAD_MAPS: dict[str, int] = {"heatmap": 1, "offset": 2, "size": 2, "side": 1}
#: The heatmap's initial probability everywhere (CenterNet's focal-loss prior).
HEATMAP_PRIOR = 0.1
#: Output strides the neck can end at.
OUTPUT_STRIDES = (4, 8)


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ResidualPair(nn.Module):
    """Two 3x3 convolutions with a skip connection; the second BN starts at zero (identity)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.first = conv_bn_relu(channels, channels)
        self.second = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels))
        nn.init.zeros_(self.second[1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.second(self.first(x)))


class DenseEncoder(nn.Module):
    """Five stride-2 stages of dense 3x3 convolutions with residual pairs (dense convolutions run
    several times faster under bf16 on these CPUs than depthwise ones); ``forward`` returns the
    features by stride, {2: ..., 4: ..., ..., 32: ...}. Shared by the image-level networks."""

    def __init__(self, widths: tuple[int, ...] | list[int], blocks: tuple[int, ...] | list[int], input_size: int) -> None:
        super().__init__()
        if len(widths) != 5 or len(blocks) != 5:
            raise ValueError(f"widths and blocks need one entry per stride 2, 4, 8, 16, 32; got {widths} and {blocks}")
        if input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32, got {input_size}")
        self.widths = list(widths)
        stages: list[nn.Module] = []
        in_channels = 3
        for width, repeats in zip(widths, blocks):
            residuals = (ResidualPair(width) for _ in range(repeats))
            stages.append(nn.Sequential(conv_bn_relu(in_channels, width, stride=2), *residuals))
            in_channels = width
        self.stages = nn.ModuleList(stages)

    def channels(self, stride: int) -> int:
        """Channels of the features at ``stride``."""
        return self.widths[int(math.log2(stride)) - 1]

    def forward(self, images: torch.Tensor) -> dict[int, torch.Tensor]:
        features: dict[int, torch.Tensor] = {}
        x = images
        for level, stage in enumerate(self.stages):
            x = stage(x)
            features[2 ** (level + 1)] = x
        return features


class HandDetectorNet(nn.Module):
    """Dense backbone, top-down neck and centre heads; ``forward`` returns the maps of
    :data:`HEAD_MAPS` at ``stride`` (heatmap and side as logits)."""

    def __init__(
        self,
        widths: tuple[int, ...] | list[int] = (16, 32, 64, 96, 128),
        blocks: tuple[int, ...] | list[int] = (0, 1, 1, 2, 2),
        head_channels: int = 64,
        stride: int = 4,
        input_size: int = 256,
    ) -> None:
        super().__init__()
        if stride not in OUTPUT_STRIDES:
            raise ValueError(f"stride must be one of {OUTPUT_STRIDES}, got {stride}")
        self.encoder = DenseEncoder(widths, blocks, input_size)
        self.stride = stride
        self.input_size = input_size
        #: Strides of the neck's inputs, coarsest first, down to the output stride.
        self.neck_strides = [s for s in (32, 16, 8, 4) if s >= stride]
        self.lateral = nn.ModuleList(nn.Conv2d(self.encoder.channels(s), head_channels, 1) for s in self.neck_strides)
        self.smooth = conv_bn_relu(head_channels, head_channels)
        self.head = conv_bn_relu(head_channels, head_channels)
        self.predict = nn.Conv2d(head_channels, sum(HEAD_MAPS.values()), 1)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m is not self.predict:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        nn.init.normal_(self.predict.weight, std=1e-3)
        nn.init.zeros_(self.predict.bias)
        with torch.no_grad():
            self.predict.bias[0] = -math.log((1 - HEATMAP_PRIOR) / HEATMAP_PRIOR)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.encoder(images)
        top: torch.Tensor | None = None
        for stride, lateral in zip(self.neck_strides, self.lateral):
            projected = lateral(features[stride])
            top = projected if top is None else projected + F.interpolate(top, scale_factor=2.0, mode="nearest")
        maps = self.predict(self.head(self.smooth(top)))
        return dict(zip(HEAD_MAPS, maps.split(list(HEAD_MAPS.values()), dim=1)))
