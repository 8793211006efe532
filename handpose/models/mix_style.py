"""MixStyle (Zhou, Yang, Qiao, Xiang, "Domain Generalization with MixStyle", ICLR 2021).

A network's early feature maps carry an image's style in their per-channel means and spreads:
colour, contrast, texture, the look of the renderer. While training, :class:`MixStyle` swaps part
of that style between the crops of a batch: each crop's maps are standardised by their own
per-channel mean and spread, then rescaled by a blend of those and another crop's (the blend's
weight drawn from Beta(alpha, alpha) per crop). The content (where the hand's edges are) stays, so
the targets stay right, and the network meets more styles than the generator draws: the kind of
shift between synthetic and real hands. In eval mode it is the identity, so inference, export and
weights are untouched; it has no parameters.
"""

from __future__ import annotations

import torch
from torch import nn

#: The Beta distribution's parameter for the blend weight (the paper's 0.1: mostly near 0 or 1).
MIX_ALPHA = 0.1
_EPS = 1e-6


class MixStyle(nn.Module):
    """Mixes feature statistics between a training batch's crops with ``probability`` per batch."""

    def __init__(self, probability: float, alpha: float = MIX_ALPHA) -> None:
        super().__init__()
        if not 0 <= probability <= 1:
            raise ValueError(f"mix_style must be a probability in [0, 1], got {probability}")
        self.probability, self.alpha = float(probability), float(alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.probability == 0 or x.shape[0] < 2:
            return x
        if torch.rand(()) >= self.probability:
            return x
        mean = x.mean(dim=(2, 3), keepdim=True)
        spread = (x.var(dim=(2, 3), keepdim=True) + _EPS).sqrt()
        mean, spread = mean.detach(), spread.detach()  # as the paper: style is mixed, not learnt through
        weight = torch.distributions.Beta(self.alpha, self.alpha).sample((x.shape[0], 1, 1, 1)).to(x)
        other = torch.randperm(x.shape[0], device=x.device)
        mixed_mean = weight * mean + (1 - weight) * mean[other]
        mixed_spread = weight * spread + (1 - weight) * spread[other]
        return (x - mean) / spread * mixed_spread + mixed_mean
