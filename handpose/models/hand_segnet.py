"""HandSegNet's network here: a small dense encoder-decoder giving class logits per cell.

Zimmermann & Brox's HandSegNet (ICCV 2017) is a VGG-like encoder of up to 512 channels whose
stride-8 score maps are upsampled bilinearly to the image: far beyond a 2-core CPU's training
budget at 256 x 256. Here the encoder is the hand detector's
(:class:`~handpose.models.hand_detector_net.HandDetectorNet`: plain 3x3 convolutions with BN and
ReLU, one stride-2 convolution per stage and ``blocks[i]`` residual pairs, strides 2 to 32), for
the same reason: under bf16 on these CPUs dense convolutions run several times faster than
depthwise ones. Stride 32 sees a hand that fills the frame and its arm as a whole, which tells a
hand from skin-coloured background.

The decoder walks back up as U-Net and FPN do: from the stride-32 features, each step upsamples
bilinearly by 2, adds a 1x1 projection of the encoder's features at that stride (their detail:
finger edges) and mixes them with a 3x3 convolution, down to the output ``stride`` (2, 4 or 8).
A 1x1 convolution gives ``classes`` logits per cell, background first;
:mod:`handpose.codecs.hand_masks` turns them into probabilities at the image's resolution. The
logits start at a prior of :data:`BACKGROUND_PRIOR` for the background, the hand classes sharing
the rest, so the first steps do not spend themselves learning that most of a picture is no hand.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from handpose.models.hand_detector_net import DenseEncoder, conv_bn_relu

#: Output strides the decoder can end at.
OUTPUT_STRIDES = (2, 4, 8)
#: The background's initial probability everywhere (hands cover about a tenth of a picture).
BACKGROUND_PRIOR = 0.9


class HandSegNetwork(nn.Module):
    """Dense encoder, top-down decoder; ``forward`` returns {"logits": (B, classes, H/stride, W/stride)}."""

    def __init__(
        self,
        widths: tuple[int, ...] | list[int] = (16, 32, 64, 96, 128),
        blocks: tuple[int, ...] | list[int] = (0, 1, 1, 2, 2),
        decoder_channels: int = 32,
        stride: int = 4,
        classes: int = 3,
        input_size: int = 256,
    ) -> None:
        super().__init__()
        if stride not in OUTPUT_STRIDES:
            raise ValueError(f"stride must be one of {OUTPUT_STRIDES}, got {stride}")
        if classes < 2:
            raise ValueError(f"classes must be at least 2, got {classes}")
        self.encoder = DenseEncoder(widths, blocks, input_size)
        self.stride = stride
        self.input_size = input_size
        #: Strides the decoder passes through, coarsest first, down to the output stride.
        self.decoder_strides = [s for s in (32, 16, 8, 4, 2) if s >= stride]
        self.lateral = nn.ModuleList(
            nn.Conv2d(self.encoder.channels(s), decoder_channels, 1) for s in self.decoder_strides
        )
        self.mix = nn.ModuleList(conv_bn_relu(decoder_channels, decoder_channels) for _ in self.decoder_strides)
        self.predict = nn.Conv2d(decoder_channels, classes, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m is not self.predict:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        nn.init.normal_(self.predict.weight, std=1e-3)
        with torch.no_grad():
            self.predict.bias.fill_(math.log((1.0 - BACKGROUND_PRIOR) / (classes - 1)))
            self.predict.bias[0] = math.log(BACKGROUND_PRIOR)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.encoder(images)
        top: torch.Tensor | None = None
        for stride, lateral, mix in zip(self.decoder_strides, self.lateral, self.mix):
            projected = lateral(features[stride])
            if top is not None:
                projected = projected + F.interpolate(top, scale_factor=2.0, mode="bilinear", align_corners=False)
            top = mix(projected)
        return {"logits": self.predict(top)}
