"""FreiHAND U-Net: a small U-Net predicting full-resolution keypoint heatmaps.

Ronneberger, Fischer, Brox, "U-Net: Convolutional Networks for Biomedical Image Segmentation",
MICCAI 2015, in the small form popularised for FreiHAND (Zimmermann et al., ICCV 2019) 2D
keypoints by O. Chernytska's "2D-Hand-Pose-Estimation-RGB": 128x128 input, 16 filters at the
first level doubling per level, three poolings, 21 heatmaps at the input resolution trained with
an IoU loss (:func:`handpose.models.losses.heatmap_iou_loss`).

Blocks are conv-BN-ReLU twice; down by 2x2 max-pool; up by bilinear upsampling or a 2x2
transposed conv (``upsampling``), then concatenation with the skip of the same level. The output
passes a sigmoid because the targets are Gaussians scaled to a peak of 1; the final bias starts
at a low prior so the first predictions look like background, as most of every target map is.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from handpose.skeleton import NUM_JOINTS

UPSAMPLING_MODES = ("bilinear", "transposed")
#: Initial sigmoid output: near the targets' background, yet where the sigmoid still passes
#: gradient (0.05 fitted a batch faster than 0.01 or 0.5 with either heatmap loss).
INITIAL_HEATMAP_PRIOR = 0.05


class DoubleConv(nn.Sequential):
    """Two 3x3 conv-BN-ReLU layers: one U-Net level."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class UpLevel(nn.Module):
    """Upsample x2, concatenate the skip of that resolution, fuse with a :class:`DoubleConv`."""

    def __init__(self, in_channels: int, skip_channels: int, upsampling: str) -> None:
        super().__init__()
        self.upsample = (
            nn.ConvTranspose2d(in_channels, in_channels, kernel_size=2, stride=2)
            if upsampling == "transposed"
            else None
        )
        self.fuse = DoubleConv(in_channels + skip_channels, skip_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        if self.upsample is None:
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        else:
            x = self.upsample(x)
        return self.fuse(torch.cat([x, skip], dim=1))


class UNet(nn.Module):
    """U-Net to stride-1 sigmoid heatmaps; input sides must be divisible by ``2**depth``."""

    def __init__(
        self,
        num_joints: int = NUM_JOINTS,
        base_channels: int = 16,
        depth: int = 3,
        upsampling: str = "bilinear",
        input_size: int = 128,
    ) -> None:
        super().__init__()
        if upsampling not in UPSAMPLING_MODES:
            raise ValueError(f"upsampling must be one of {UPSAMPLING_MODES}, got {upsampling!r}")
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.num_joints = num_joints
        self.stride = 1
        self.input_size = input_size
        channels = [base_channels * 2**level for level in range(depth + 1)]
        self.down = nn.ModuleList(
            DoubleConv(c_in, c_out) for c_in, c_out in zip([3] + channels[:-1], channels)
        )
        self.up = nn.ModuleList(
            UpLevel(channels[level + 1], channels[level], upsampling)
            for level in reversed(range(depth))
        )
        self.head = nn.Conv2d(channels[0], num_joints, kernel_size=1)
        nn.init.constant_(self.head.bias, math.log(INITIAL_HEATMAP_PRIOR / (1 - INITIAL_HEATMAP_PRIOR)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m is not self.head:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        skips = []
        x = images
        for level, block in enumerate(self.down):
            if level > 0:
                x = F.max_pool2d(x, kernel_size=2)
            x = block(x)
            skips.append(x)
        x = skips.pop()
        for level in self.up:
            x = level(x, skips.pop())
        heatmaps = torch.sigmoid(self.head(x))
        return {"heatmaps": heatmaps, "stages": [heatmaps]}
