"""MobileNetV2 top-down pose network: handpose's fast default for CPU.

Backbone: Sandler, Howard, Zhu, Zhmoginov, Chen, "MobileNetV2: Inverted Residuals and Linear
Bottlenecks", CVPR 2018 -- the 17 inverted-residual blocks with ReLU6 and the width multiplier
(``width_mult=1.0`` is the standard network; the classifier's 1x1 conv to 1280 channels is
dropped). Head: in the spirit of Xiao, Wu, Wei, "Simple Baselines for Human Pose Estimation and
Tracking", ECCV 2018 (three stride-2 deconvolutions from stride 32 to stride 4), as used with a
MobileNetV2 backbone by chainer-hand-pose and MMPose, but made light for CPU: each up-step is a
depthwise 4x4 transposed conv plus a pointwise conv with ``head_channels`` channels, and adds a
1x1 projection of the backbone features at the new stride (a lateral connection, as in FPN),
which gives the head back the spatial detail a from-scratch backbone has not learnt to keep.

Every heatmap is a linear combination of the head's last ``head_channels`` maps, so keep
``head_channels`` well above ``num_joints`` (64 by default).

Output: ``num_joints`` heatmaps at stride 4, linear (trained with MSE against Gaussians with
peak 1). Default input 128x128 (32x32 heatmaps): handpose's synthetic and CPU-trained crops are
128 pixels; 256 is the usual choice with more compute. Input sides must be divisible by 32.

``mix_style`` (a probability, 0 by default): while training, MixStyle
(:mod:`~handpose.models.mix_style`) mixes the feature statistics of a batch's crops after the
backbone's stride-4 and stride-8 stages, where a crop's style (colour, texture, the renderer's
look) lives, for domain generalisation from synthetic to real hands; in eval mode it does nothing.

Initialisation for training from scratch: Kaiming for convs; the last BN of every residual block
starts at zero so each block starts as the identity; the transposed convs start as bilinear
upsampling; the prediction conv starts with tiny weights and zero bias so the first heatmaps
equal the targets' background (0) instead of noise the network must first unlearn.

Measured on 3000 synthetic 128x128 hand drawings (MSE, AdamW 2e-3, batch 32, 2 CPU threads):
the lateral connections cut the validation error after 2 epochs from 9.6 to 6.9 px at
``width_mult=0.5``; ``width_mult=1.0`` reaches 6.5 px after 2 epochs but costs about 2.4x the
time per step, so 0.5 is the better choice for a few minutes of CPU training.
"""

from __future__ import annotations

import torch
from torch import nn

from handpose.models.mix_style import MixStyle
from handpose.skeleton import NUM_JOINTS

#: (expansion t, output channels c, repeats n, first stride s) of MobileNetV2's bottleneck stages.
INVERTED_RESIDUAL_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_CHANNELS = 32
#: Backbone strides the head returns to, coarsest first, ending at the output stride.
LATERAL_STRIDES = (16, 8, 4)
#: The backbone strides after whose last block MixStyle mixes (the early, style-bearing stages).
MIX_STYLE_STRIDES = (4, 8)


def make_divisible(value: float, divisor: int = 8) -> int:
    """MobileNet's channel rounding: nearest multiple of ``divisor``, never below 90% of value."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def conv_bn(
    in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1, groups: int = 1,
    activation: bool = True,
) -> nn.Sequential:
    """Conv, BN and (unless linear) ReLU6: MobileNetV2's unit."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                  groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if activation:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """Expand (1x1), depthwise 3x3, linear projection (1x1); residual when shapes allow."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(conv_bn(in_channels, hidden))
        layers.append(conv_bn(hidden, hidden, 3, stride, groups=hidden))
        layers.append(conv_bn(hidden, out_channels, activation=False))
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_channels == out_channels
        if self.use_residual:
            nn.init.zeros_(self.block[-1][1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.use_residual else self.block(x)


class MobileNetV2Backbone(nn.Module):
    """MobileNetV2 features; returns the last feature map of every stride, 2 to 32."""

    def __init__(self, width_mult: float = 1.0, mix_style: float = 0.0) -> None:
        super().__init__()
        in_channels = make_divisible(STEM_CHANNELS * width_mult)
        self.stem = conv_bn(3, in_channels, 3, stride=2)
        blocks: list[nn.Module] = []
        self.stride_of_block: list[int] = []
        self.channels_at_stride: dict[int, int] = {}
        stride = 2
        for expansion, channels, repeats, first_stride in INVERTED_RESIDUAL_SETTINGS:
            out_channels = make_divisible(channels * width_mult)
            for i in range(repeats):
                block_stride = first_stride if i == 0 else 1
                blocks.append(InvertedResidual(in_channels, out_channels, block_stride, expansion))
                stride *= block_stride
                self.stride_of_block.append(stride)
                self.channels_at_stride[stride] = out_channels
                in_channels = out_channels
        self.blocks = nn.ModuleList(blocks)
        self.out_channels = in_channels
        # The index of each stage's last block, where MixStyle (if any) mixes.
        last_block = {stride: index for index, stride in enumerate(self.stride_of_block)}
        self.mix_after = {last_block[stride] for stride in MIX_STYLE_STRIDES}
        self.mix_style = MixStyle(mix_style) if mix_style else None

    def forward(self, images: torch.Tensor) -> dict[int, torch.Tensor]:
        x = self.stem(images)
        features: dict[int, torch.Tensor] = {}
        for index, (block, stride) in enumerate(zip(self.blocks, self.stride_of_block)):
            x = block(x)
            if self.mix_style is not None and index in self.mix_after:
                x = self.mix_style(x)
            features[stride] = x
        return features


def _init_bilinear(deconv: nn.ConvTranspose2d) -> None:
    """Start a depthwise stride-2 4x4 transposed conv as bilinear x2 upsampling (as FCN does)."""
    size = deconv.kernel_size[0]
    factor = (size + 1) // 2
    centre = factor - 0.5
    taps = 1 - torch.abs(torch.arange(size, dtype=torch.float32) - centre) / factor
    with torch.no_grad():
        deconv.weight.copy_((taps[:, None] * taps[None, :]).expand_as(deconv.weight))


class UpStep(nn.Module):
    """x2 up: depthwise 4x4 transposed conv, pointwise conv, plus a lateral backbone projection."""

    def __init__(self, in_channels: int, lateral_channels: int, out_channels: int) -> None:
        super().__init__()
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(in_channels, in_channels, 4, stride=2, padding=1,
                               groups=in_channels, bias=False),
            nn.BatchNorm2d(in_channels),
            nn.ReLU6(inplace=True),
        )
        self.pointwise = conv_bn(in_channels, out_channels, activation=False)
        self.lateral = conv_bn(lateral_channels, out_channels, activation=False)
        self.activation = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
        return self.activation(self.pointwise(self.upsample(x)) + self.lateral(lateral))


class MobileNetV2Pose(nn.Module):
    """MobileNetV2 backbone + light deconvolution head: stride-4 heatmaps."""

    def __init__(
        self,
        num_joints: int = NUM_JOINTS,
        width_mult: float = 1.0,
        head_channels: int = 64,
        input_size: int = 128,
        mix_style: float = 0.0,
    ) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.stride = LATERAL_STRIDES[-1]
        self.input_size = input_size
        self.backbone = MobileNetV2Backbone(width_mult, mix_style)
        steps: list[nn.Module] = []
        in_channels = self.backbone.out_channels
        for stride in LATERAL_STRIDES:
            steps.append(UpStep(in_channels, self.backbone.channels_at_stride[stride], head_channels))
            in_channels = head_channels
        self.head = nn.ModuleList(steps)
        self.predict = nn.Conv2d(head_channels, num_joints, kernel_size=1)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m is not self.predict:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.ConvTranspose2d):
                _init_bilinear(m)
        nn.init.normal_(self.predict.weight, std=1e-3)
        nn.init.zeros_(self.predict.bias)

    def forward_features(self, images: torch.Tensor) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
        """The backbone's feature maps by stride (2 to 32) and the head's last map (stride 4,
        ``head_channels``), from which :attr:`predict` draws the heatmaps: for further heads on
        the same features, such as 3D bone directions."""
        features = self.backbone(images)
        return features, upsample(self.head, features)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        heatmaps = self.predict(self.forward_features(images)[1])
        return {"heatmaps": heatmaps, "stages": [heatmaps]}


def upsample(steps: nn.ModuleList, features: dict[int, torch.Tensor]) -> torch.Tensor:
    """The stride-4 map of :class:`UpStep` ``steps`` (one per :data:`LATERAL_STRIDES`) from the
    backbone's features by stride: the heatmap head's path, or a 3D head's own copy of it."""
    x = features[max(features)]
    for step, stride in zip(steps, LATERAL_STRIDES):
        x = step(x, features[stride])
    return x
