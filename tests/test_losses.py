"""Heatmap, IoU and limb-mask losses, intermediate supervision and the structure-loss schedule."""

from __future__ import annotations

import pytest
import torch

from handpose.models.losses import (
    G6_WEIGHT,
    decaying_weight,
    heatmap_iou_loss,
    heatmap_mse,
    limb_mask_channel_weights,
    limb_mask_loss,
    multi_stage_loss,
)

HEATMAP_LOSSES = [heatmap_mse, heatmap_iou_loss]


def _gaussians(batch: int = 2, joints: int = 3, size: int = 8) -> torch.Tensor:
    grid = torch.arange(float(size))
    centres = torch.rand(batch, joints, 2) * (size - 1)
    return torch.exp(
        -((grid[None, None, None, :] - centres[..., 0, None, None]) ** 2
          + (grid[None, None, :, None] - centres[..., 1, None, None]) ** 2) / 2.0
    )


pytestmark = pytest.mark.usefixtures("seeded_one_thread_torch")


@pytest.mark.parametrize("loss_fn", HEATMAP_LOSSES)
def test_heatmap_losses_zero_when_perfect_positive_otherwise(loss_fn) -> None:
    target = _gaussians()
    assert loss_fn(target.clone(), target, torch.ones(2, 3)).item() == pytest.approx(0.0, abs=1e-6)
    assert loss_fn(target.roll(2, dims=-1), target, torch.ones(2, 3)).item() > 1e-3


@pytest.mark.parametrize("loss_fn", HEATMAP_LOSSES)
def test_heatmap_losses_ignore_zero_weight_joints(loss_fn) -> None:
    target = _gaussians()
    pred = target.clone()
    pred[0, 1] = torch.rand(8, 8)  # garbage on an unlabelled joint
    weights = torch.ones(2, 3)
    weights[0, 1] = 0.0
    assert loss_fn(pred, target, weights).item() == pytest.approx(0.0, abs=1e-6)
    assert loss_fn(pred, target, torch.ones(2, 3)).item() > 1e-3
    # Same value for (B, C, 1) weights as codecs may produce, and None means all labelled.
    assert loss_fn(pred, target, weights[..., None]) == loss_fn(pred, target, weights)
    assert loss_fn(pred, target, None) == loss_fn(pred, target, torch.ones(2, 3))


@pytest.mark.parametrize("loss_fn", HEATMAP_LOSSES)
def test_heatmap_losses_zero_when_nothing_is_labelled(loss_fn) -> None:
    pred = torch.rand(2, 3, 8, 8, requires_grad=True)
    loss = loss_fn(pred, _gaussians(), torch.zeros(2, 3))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(pred.grad).all()


def test_heatmap_mse_is_the_weighted_mean_of_per_map_errors() -> None:
    target = torch.zeros(1, 2, 2, 2)
    pred = torch.zeros(1, 2, 2, 2)
    pred[0, 0, 0, 0] = 2.0  # per-map MSE 4/4 = 1 on map 0, 0 on map 1
    assert heatmap_mse(pred, target, torch.tensor([[1.0, 1.0]])).item() == pytest.approx(0.5)
    assert heatmap_mse(pred, target, torch.tensor([[3.0, 1.0]])).item() == pytest.approx(0.75)


def test_iou_loss_hand_worked() -> None:
    # Map 0: p = [1, 1, 0, 0], t = [1, 0, 0, 0]: overlap 1, union 2 + 1 - 1 = 2, IoU 1/2.
    # Map 1: p = [.5, .5, 0, 0], t = [1, 1, 0, 0]: overlap 1, union .5 + 2 - 1 = 1.5, IoU 2/3.
    pred = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]], [[0.5, 0.5], [0.0, 0.0]]]])
    target = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]]])
    both = heatmap_iou_loss(pred, target, torch.tensor([[1.0, 1.0]]))
    assert both.item() == pytest.approx(1 - (1 / 2 + 2 / 3) / 2, abs=1e-5)
    only_first = heatmap_iou_loss(pred, target, torch.tensor([[1.0, 0.0]]))
    assert only_first.item() == pytest.approx(0.5, abs=1e-5)


def test_iou_loss_ignores_the_scale_of_background() -> None:
    """Unlike MSE, IoU does not fade as the map grows around the same peak."""
    small, large = torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 16, 16)
    small[..., 1, 1] = large[..., 1, 1] = 1.0
    pred_small, pred_large = small.roll(1, -1), large.roll(1, -1)
    assert heatmap_iou_loss(pred_small, small) == pytest.approx(heatmap_iou_loss(pred_large, large).item())
    assert heatmap_mse(pred_large, large) < heatmap_mse(pred_small, small) / 10


def test_limb_mask_loss_zero_for_perfect_masks_binary_and_soft() -> None:
    binary = (torch.rand(2, 7, 8, 8) > 0.5).float()
    soft = torch.rand(2, 7, 8, 8)  # LPM masks are probabilities, not 0/1
    assert limb_mask_loss(binary, binary).item() == pytest.approx(0.0, abs=1e-6)
    assert limb_mask_loss(soft, soft).item() == pytest.approx(0.0, abs=1e-5)
    assert limb_mask_loss(torch.full_like(soft, 0.5), binary).item() > 0.1


def test_limb_mask_loss_has_the_cross_entropy_gradient() -> None:
    target = torch.rand(1, 1, 4, 4)
    pred = torch.rand(1, 1, 4, 4).clamp(0.05, 0.95).requires_grad_()
    limb_mask_loss(pred, target).backward()
    bce_pred = pred.detach().clone().requires_grad_()
    torch.nn.functional.binary_cross_entropy(bce_pred, target).backward()
    assert torch.allclose(pred.grad, bce_pred.grad, atol=1e-6)


def test_limb_mask_loss_weights_g6_parts_below_the_whole_hand() -> None:
    target = torch.zeros(1, 7, 4, 4)
    hand_wrong, part_wrong = target.clone(), target.clone()
    hand_wrong[:, 0] = 0.5
    part_wrong[:, 3] = 0.5
    ratio = limb_mask_loss(part_wrong, target) / limb_mask_loss(hand_wrong, target)
    assert ratio.item() == pytest.approx(G6_WEIGHT)
    assert limb_mask_loss(part_wrong, target, limb_mask_channel_weights(7)) == limb_mask_loss(part_wrong, target)
    assert limb_mask_channel_weights(1).tolist() == [1.0]
    # Explicit per-map weights replace the default and can drop a sample.
    weights = torch.ones(1, 7)
    assert limb_mask_loss(part_wrong, target, weights) == pytest.approx(
        limb_mask_loss(hand_wrong, target, weights).item()
    )
    assert limb_mask_loss(part_wrong, target, torch.zeros(1, 7)).item() == 0.0


def test_multi_stage_loss_sums_every_stage() -> None:
    target = _gaussians()
    weights = torch.ones(2, 3)
    wrong = target.roll(1, dims=-1)
    stages = [wrong, target.clone(), wrong]
    total = multi_stage_loss(stages, target, weights, heatmap_mse)
    assert total.item() == pytest.approx(2 * heatmap_mse(wrong, target, weights).item())
    with pytest.raises(ValueError):
        multi_stage_loss([], target, weights, heatmap_mse)


def test_decaying_weight_follows_nsrm_schedule() -> None:
    assert decaying_weight(0, 0.1, 0.1, every=20) == pytest.approx(0.1)
    assert decaying_weight(19, 0.1, 0.1, every=20) == pytest.approx(0.1)
    assert decaying_weight(20, 0.1, 0.1, every=20) == pytest.approx(0.01)
    assert decaying_weight(45, 0.1, 0.1, every=20) == pytest.approx(0.001)
    assert decaying_weight(3, 1.0, 0.5) == pytest.approx(0.125)
    with pytest.raises(ValueError):
        decaying_weight(-1, 0.1, 0.1)
