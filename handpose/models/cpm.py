"""Convolutional Pose Machine for hands.

Wei, Ramakrishna, Kanade, Sheikh, "Convolutional Pose Machines", CVPR 2016; in the hand form of
Simon, Joo, Matthews, Sheikh, "Hand Keypoint Detection in Single Images using Multiview
Bootstrapping", CVPR 2017 (OpenPose's hand network), which is also NSRM's CPM baseline.

Layout (channel counts at ``width_mult=1``):

- stem: VGG-19 conv1_1..conv4_2 (64, 64, pool, 128, 128, pool, 256 x4, pool, 512, 512) then two
  3x3 convs to 256 and 128 channels: shared image features at stride 8;
- stage 1: two 1x1 convs (512 hidden) from the features to the joint heatmaps;
- stage t >= 2: the features concatenated with stage t-1's heatmaps, five 7x7 convs (128), a 1x1
  conv (128) and a 1x1 prediction conv. The stacked 7x7 convs give each stage a receptive field
  large enough to see the whole hand, so later stages can correct a joint from its neighbours'
  beliefs. Every stage is supervised (intermediate supervision against vanishing gradients).

Deviations from the paper, on purpose:

- No centre map. CPM fed a Gaussian at the person's centre to say which person to parse; handpose
  crops are top-down (a detector or the labels centre the crop on one hand), so that map would
  be the same for every sample and carry no information. OpenPose's hand CPM drops it too.
- BatchNorm after every conv but the predictions: there are no pretrained VGG weights here, and
  BN lets the deep stack of 7x7 convs train from scratch.
- ``width_mult`` scales every channel count so that tests and CPU runs can use a small network.

Defaults: 6 stages, 368x368 input (46x46 heatmaps), as in CPM, OpenPose hands and NSRM.
The stage building blocks are public here because NSRM (:mod:`handpose.models.nsrm`) is a CPM
with extra stages and imports them.
"""

from __future__ import annotations

import torch
from torch import nn

from handpose.skeleton import NUM_JOINTS

#: VGG-19 up to conv4_2 ("M" = 2x2 max-pool), then the two CPM feature convs.
VGG_STEM_CHANNELS: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 256, 128
)
STAGE_CHANNELS = 128
INITIAL_STAGE_HIDDEN = 512
STAGE_KERNEL = 7
STAGE_CONVS = 5


def scaled_channels(channels: int, width_mult: float) -> int:
    """Channel count after width scaling; at least 8 so tiny test networks stay well defined."""
    return max(8, int(round(channels * width_mult)))


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """Same-padded conv, BatchNorm, ReLU: the unit every hidden CPM/NSRM layer is made of.

    Kaiming init because the network trains from scratch through a deep ReLU stack.
    """
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return nn.Sequential(conv, nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def prediction_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    """1x1 conv producing maps; near-zero start so early outputs sit at the targets' background."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)
    nn.init.normal_(conv.weight, std=1e-3)
    nn.init.zeros_(conv.bias)
    return conv


class VGGStem(nn.Sequential):
    """Shared image features at stride 8 (VGG-19 conv1_1..conv4_2 + two CPM convs)."""

    stride = 8

    def __init__(self, width_mult: float = 1.0) -> None:
        layers: list[nn.Module] = []
        in_channels = 3
        for item in VGG_STEM_CHANNELS:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                out_channels = scaled_channels(int(item), width_mult)
                layers.append(conv_bn_relu(in_channels, out_channels, 3))
                in_channels = out_channels
        super().__init__(*layers)
        self.out_channels = in_channels


class InitialStage(nn.Sequential):
    """CPM stage 1: per-location 1x1 convs from the features alone."""

    def __init__(self, in_channels: int, out_channels: int, width_mult: float = 1.0) -> None:
        hidden = scaled_channels(INITIAL_STAGE_HIDDEN, width_mult)
        super().__init__(conv_bn_relu(in_channels, hidden, 1), prediction_conv(hidden, out_channels))


class RefinementStage(nn.Sequential):
    """CPM stage t >= 2: large-kernel convs over features plus earlier beliefs."""

    def __init__(self, in_channels: int, out_channels: int, width_mult: float = 1.0) -> None:
        channels = scaled_channels(STAGE_CHANNELS, width_mult)
        layers: list[nn.Module] = []
        for i in range(STAGE_CONVS):
            layers.append(conv_bn_relu(in_channels if i == 0 else channels, channels, STAGE_KERNEL))
        layers.append(conv_bn_relu(channels, channels, 1))
        layers.append(prediction_conv(channels, out_channels))
        super().__init__(*layers)


class CPM(nn.Module):
    """Convolutional Pose Machine: stride-8 heatmaps refined over ``num_stages`` stages."""

    def __init__(
        self,
        num_joints: int = NUM_JOINTS,
        num_stages: int = 6,
        width_mult: float = 1.0,
        input_size: int = 368,
    ) -> None:
        super().__init__()
        if num_stages < 1:
            raise ValueError(f"CPM needs at least one stage, got num_stages={num_stages}")
        self.num_joints = num_joints
        self.stride = VGGStem.stride
        self.input_size = input_size
        self.stem = VGGStem(width_mult)
        features = self.stem.out_channels
        stages: list[nn.Module] = [InitialStage(features, num_joints, width_mult)]
        for _ in range(num_stages - 1):
            stages.append(RefinementStage(features + num_joints, num_joints, width_mult))
        self.stages = nn.ModuleList(stages)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        features = self.stem(images)
        heatmaps = self.stages[0](features)
        stages = [heatmaps]
        for stage in self.stages[1:]:
            heatmaps = stage(torch.cat([features, heatmaps], dim=1))
            stages.append(heatmaps)
        return {"heatmaps": heatmaps, "stages": stages}
