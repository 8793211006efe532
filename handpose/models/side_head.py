"""Which side a crop shows, read linearly off a trained pose network's own features.

A network that sees right hands only (left ones mirrored) has still learnt what a palm and the back
of a hand look like, since it must place the thumb on the right side of either. A palm and the
back of the other hand have the same outline, so a crop's side is a question of that look, and the
network's keypoint scores answer it poorly (the Predictor's mean-score rule gets 71% of the real
dev frames right). A logistic regression on the network's pooled maps answers it far better (85%,
fitted on synthetic crops only: docs/results.md, "Which side a crop shows").

:class:`SideHead` is that regression as a module: the backbone's stride-32 and stride-16 maps and
the heatmap head's stride-4 map, each averaged over the crop (the head map also maximised),
standardised by the fitting data's mean and spread, then one linear layer: the logit that the crop
shows a right hand. :func:`fit_side_head` fits it (L-BFGS, a little L2), the network left as it is.
"""

from __future__ import annotations

import torch
from torch import nn

#: L2 penalty of the fit, on the standardised features' weights.
L2_PENALTY = 1e-3
#: L-BFGS iterations of the fit (it converges well before on a few thousand crops).
FIT_ITERATIONS = 500


def pooled_maps(features: dict[int, torch.Tensor], head_map: torch.Tensor) -> torch.Tensor:
    """(B, C) the maps a side head reads: backbone strides 32 and 16 averaged, the head map
    averaged and maximised (``features`` by stride, as :meth:`MobileNetV2Pose.forward_features`
    gives them with the head map)."""
    return torch.cat(
        [features[32].mean((2, 3)), features[16].mean((2, 3)), head_map.mean((2, 3)), head_map.amax((2, 3))], dim=1
    )


class SideHead(nn.Module):
    """The logit (B,) that each crop shows a right hand, from the network's maps (module docstring).

    Until fitted it says nothing (logit 0: either side equally)."""

    def __init__(self, channels_at_stride: dict[int, int], head_channels: int) -> None:
        super().__init__()
        width = channels_at_stride[32] + channels_at_stride[16] + 2 * head_channels
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("scale", torch.ones(width))
        self.linear = nn.Linear(width, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, features: dict[int, torch.Tensor], head_map: torch.Tensor) -> torch.Tensor:
        return self.logits(pooled_maps(features, head_map))

    def logits(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.linear((pooled.float() - self.mean) / self.scale)[:, 0]


def fit_side_head(head: SideHead, pooled: torch.Tensor, shows_right: torch.Tensor) -> float:
    """Fit ``head`` in place to pooled maps (N, C) of crops labelled by whether they show a right
    hand (N,); returns the final training loss (mean binary cross-entropy)."""
    if len(pooled) != len(shows_right) or len(pooled) < 2:
        raise ValueError(
            f"need two or more crops, each with a label; got {len(pooled)} crops and {len(shows_right)} labels"
        )
    labels = shows_right.float()
    if not 0 < float(labels.mean()) < 1:
        raise ValueError("the crops must show both sides: a side head cannot learn from one")
    pooled = pooled.float()
    with torch.no_grad():
        head.mean.copy_(pooled.mean(0))
        head.scale.copy_(pooled.std(0) + 1e-6)
    parameters = list(head.linear.parameters())
    optimiser = torch.optim.LBFGS(parameters, max_iter=FIT_ITERATIONS)

    def cross_entropy() -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(head.logits(pooled), labels)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = cross_entropy() + L2_PENALTY * head.linear.weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimiser.step(closure)
    with torch.no_grad():
        return float(cross_entropy())
