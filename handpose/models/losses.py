"""Training losses of the 2D pose networks.

All losses take predictions and targets of shape (B, C, h, w) and optional per-map weights of
shape (B, C) or (C,) (a trailing singleton axis, (B, C, 1), is accepted too): a weight of 0
removes a map (an unlabelled joint) from the loss entirely. Heatmap losses are the weighted mean
over maps of a per-map error, so they do not depend on how many joints a batch has labelled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.nn import functional as F

#: Keeps the weighted mean defined (and zero) when every map of a batch has weight 0.
_EPS = 1e-8
#: Smoothing of the IoU ratio, as in the FreiHAND U-Net reference; an empty map matched by an
#: empty prediction counts as a perfect IoU.
IOU_EPS = 1e-6
#: NSRM's weight of each G6 part mask (fingers, palm) relative to the G1 whole-hand mask.
G6_WEIGHT = 0.2

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def _map_weights(weights: torch.Tensor | None, pred: torch.Tensor) -> torch.Tensor:
    """Per-map weights broadcast to (B, C)."""
    if weights is None:
        return pred.new_ones(pred.shape[:2])
    weights = torch.as_tensor(weights, dtype=pred.dtype, device=pred.device)
    if weights.dim() > 2:
        weights = weights.flatten(1)
    return torch.broadcast_to(weights, pred.shape[:2])


def _weighted_mean(per_map: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return (per_map * weights).sum() / weights.sum().clamp_min(_EPS)


def heatmap_mse(
    pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared error per heatmap (mean over pixels), weighted mean over heatmaps."""
    per_map = (pred - target).pow(2).mean(dim=(-2, -1))
    return _weighted_mean(per_map, _map_weights(weights, pred))


def heatmap_iou_loss(
    pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """The FreiHAND U-Net's soft IoU loss: 1 - IoU per map, weighted mean over maps.

    Per map, IoU = (sum(p*t) + eps) / (sum(p^2) + sum(t^2) - sum(p*t) + eps): the intersection
    over union of two non-negative maps, read as fuzzy sets. Unlike MSE it does not shrink with
    the share of background pixels, so small Gaussian peaks get a strong gradient.
    """
    overlap = (pred * target).sum(dim=(-2, -1))
    union = pred.pow(2).sum(dim=(-2, -1)) + target.pow(2).sum(dim=(-2, -1)) - overlap
    iou = (overlap + IOU_EPS) / (union + IOU_EPS)
    return _weighted_mean(1.0 - iou, _map_weights(weights, pred))


def limb_mask_channel_weights(num_channels: int) -> torch.Tensor:
    """NSRM's composition weights: 1 for channel 0 (G1, the whole hand), :data:`G6_WEIGHT` for
    every further channel (G6: five fingers and the palm); multiply in per-sample weights."""
    weights = torch.full((num_channels,), G6_WEIGHT)
    weights[0] = 1.0
    return weights


def limb_mask_loss(
    pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """NSRM's structure loss on limb-mask probabilities, with NSRM's reduction.

    Per pixel, the binary cross-entropy of the predicted probability minus the entropy of the
    target: the gradient is exactly NSRM's cross-entropy, but the value is 0 for a perfect
    prediction even on the soft LPM masks (it is the per-pixel KL divergence). Reduced as NSRM
    does: mean over pixels, weighted sum over mask channels, mean over the batch.

    ``weights`` None means NSRM's composition, :func:`limb_mask_channel_weights`.
    """
    if weights is None:
        weights = limb_mask_channel_weights(pred.shape[1])
    cross_entropy = F.binary_cross_entropy(pred, target, reduction="none")
    target_entropy = -(torch.special.xlogy(target, target) + torch.special.xlogy(1 - target, 1 - target))
    per_map = (cross_entropy - target_entropy).mean(dim=(-2, -1))
    return (per_map * _map_weights(weights, pred)).sum() / pred.shape[0]


def multi_stage_loss(
    stages: Sequence[torch.Tensor],
    target: torch.Tensor,
    weights: torch.Tensor | None,
    loss_fn: LossFn,
) -> torch.Tensor:
    """Intermediate supervision: the sum of ``loss_fn`` over every stage's prediction."""
    if not stages:
        raise ValueError("multi_stage_loss needs at least one stage prediction")
    return torch.stack([loss_fn(stage, target, weights) for stage in stages]).sum()


def decaying_weight(epoch: int, initial: float, decay: float, every: int = 1) -> float:
    """Step-decayed loss weight: ``initial * decay ** (epoch // every)`` for 0-based ``epoch``.

    NSRM weighs its structure loss 0.1 and multiplies that by 0.1 every 20 epochs
    (``initial=0.1, decay=0.1, every=20``): the masks only shape the features early on, later the
    keypoint loss should dominate.
    """
    if epoch < 0 or every < 1:
        raise ValueError(f"need epoch >= 0 and every >= 1, got epoch={epoch}, every={every}")
    return initial * decay ** (epoch // every)
