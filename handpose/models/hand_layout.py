"""The whole hand's layout from a top-down pose network's maps, for the heads that add 3D to it.

A 3D head needs what the heatmaps know (where each joint is) and what only the whole crop tells
(which way the palm faces, which fingers point at the camera). :class:`HandLayoutEncoder` steps the
heatmap head's stride-4 map down by strided 3x3 convolutions and joins the backbone's stride-16
and stride-32 maps on the way, ending in one stride-32 map whose layout (where the fingers are)
the heads read with a linear layer over all its cells.
"""

from __future__ import annotations

import torch
from torch import nn

from handpose.models.mobilenetv2_pose import conv_bn


class HandLayoutEncoder(nn.Module):
    """The stride-32 map (B, hidden, S/32, S/32) of the head map joined with the backbone's maps
    at strides 16 and 32 (``features`` by stride, as :meth:`MobileNetV2Pose.forward_features`
    gives them)."""

    def __init__(self, head_channels: int, channels_at_stride: dict[int, int], hidden: int) -> None:
        super().__init__()
        self.down = nn.ModuleList([conv_bn(head_channels, hidden, 3, 2), conv_bn(hidden, hidden, 3, 2), conv_bn(hidden, hidden, 3, 2)])
        self.lateral = nn.ModuleList([conv_bn(channels_at_stride[16], hidden), conv_bn(channels_at_stride[32], hidden)])

    def encode(self, features: dict[int, torch.Tensor], head_map: torch.Tensor) -> torch.Tensor:
        x = self.down[0](head_map)  # stride 8
        x = self.down[1](x) + self.lateral[0](features[16])
        return self.down[2](x) + self.lateral[1](features[32])
