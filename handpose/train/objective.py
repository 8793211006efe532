"""The training objective: heatmap loss over the supervised stages, plus NSRM's structure loss.

The heatmap term is what validation reports as ``val_loss``; the structure term is left out of
it because its weight decays in steps, which would make validation losses of different epochs
incomparable (and early stopping and the best checkpoint would chase the schedule).
"""

from __future__ import annotations

import torch

from handpose.codecs import LimbMaskCodec
from handpose.models.losses import (
    G6_WEIGHT,
    decaying_weight,
    heatmap_iou_loss,
    heatmap_mse,
    limb_mask_loss,
    multi_stage_loss,
)
from handpose.train.config import LimbConfig, LossConfig

HEATMAP_LOSSES = {"mse": heatmap_mse, "iou": heatmap_iou_loss}


class PoseObjective:
    """Loss terms of one batch from the model's outputs and the dataset's targets."""

    def __init__(self, loss: LossConfig, limbs: LimbConfig | None = None, limb_codec: LimbMaskCodec | None = None):
        if (limbs is None) != (limb_codec is None):
            raise ValueError("PoseObjective needs both the limb config and the limb codec, or neither")
        self.loss = loss
        self.heatmap_loss_fn = HEATMAP_LOSSES[loss.heatmap]
        self.limbs = limbs
        self.limb_codec = limb_codec

    def heatmap_loss(self, outputs: dict, batch: dict) -> torch.Tensor:
        """Heatmap loss of every stage (or of the final heatmaps only, without intermediate supervision)."""
        stages = outputs.get("stages") if self.loss.intermediate else None
        predictions = stages or [outputs["heatmaps"]]
        return multi_stage_loss(predictions, batch["heatmaps"], batch["weights"], self.heatmap_loss_fn)

    def structure_weight(self, epoch: int) -> float:
        assert self.limbs is not None
        return decaying_weight(epoch, self.limbs.weight, self.limbs.decay, self.limbs.decay_every)

    def structure_loss(self, outputs: dict, batch: dict) -> torch.Tensor:
        """NSRM's limb-mask loss summed over the mask stages, against masks drawn from the batch's
        crop keypoints (cheap next to the network, so not precomputed by the data loaders)."""
        assert self.limb_codec is not None
        targets = self.limb_codec.encode(batch["keypoints"].cpu().numpy(), batch["visibility"].cpu().numpy())
        masks = outputs["limb_masks"]
        device, dtype = masks[-1].device, masks[-1].dtype
        target = torch.from_numpy(targets["masks"]).to(device, dtype)
        # NSRM's composition (G1 at 1, each G6 part at G6_WEIGHT) times the share of labelled bones.
        composition = torch.full((target.shape[1],), G6_WEIGHT, device=device, dtype=dtype)
        composition[0] = 1.0
        weights = torch.from_numpy(targets["weights"]).to(device, dtype) * composition
        return multi_stage_loss(masks, target, weights, limb_mask_loss)

    def __call__(self, outputs: dict, batch: dict, epoch: int) -> dict[str, torch.Tensor]:
        """``{"loss": total, "heatmap_loss": ...}``, plus ``"structure_loss"`` and
        ``"structure_weight"`` for NSRM."""
        terms = {"heatmap_loss": self.heatmap_loss(outputs, batch)}
        if self.limbs is None:
            terms["loss"] = terms["heatmap_loss"]
            return terms
        weight = self.structure_weight(epoch)
        terms["structure_loss"] = self.structure_loss(outputs, batch)
        terms["structure_weight"] = torch.tensor(weight)
        terms["loss"] = terms["heatmap_loss"] + weight * terms["structure_loss"]
        return terms
