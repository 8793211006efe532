"""Nonparametric Structure Regularization Machine (NSRM) for 2D hand pose.

Chen et al., "Nonparametric Structure Regularization Machine for 2D
Hand Pose Estimation", WACV 2020 (arXiv:2001.08869).

NSRM is a CPM (:mod:`handpose.models.cpm`) with a cascade of limb-mask stages placed before the
keypoint stages, on the same stride-8 features:

- mask stage 1 predicts limb masks from the features (CPM's 1x1 initial stage); each further mask
  stage refines them from the features plus the previous masks (CPM's 7x7 refinement stage);
- keypoint stage 1 sees the features plus the last masks; each further keypoint stage also sees
  the previous heatmaps.

The masks are synthesised from the keypoints alone (no extra labels: "nonparametric"), by
:class:`handpose.codecs.LimbMaskCodec`, and supervised with a cross-entropy whose weight decays
over training (:func:`handpose.models.losses.limb_mask_loss`,
:func:`handpose.models.losses.decaying_weight`): the masks teach the features the hand's
structure, then step aside.

``mask_channels``: 1 for G1 (one mask of the whole hand) or 7 for G1+G6 (the whole hand, then the
five fingers and the palm), the paper's best composition. Defaults follow the paper: 3 mask stages,
3 keypoint stages, 7 mask channels, 368x368 input. The mask predictions are returned as
probabilities (sigmoid), and those probabilities are what the keypoint stages see (the reference
code fed the logits; the bounded maps are the masks the paper describes).
"""

from __future__ import annotations

import torch
from torch import nn

from handpose.models.cpm import InitialStage, RefinementStage, VGGStem
from handpose.skeleton import NUM_JOINTS

#: Mask channel counts NSRM defines: G1 (whole hand) and G1+G6 (hand, five fingers, palm).
MASK_CHANNEL_OPTIONS = (1, 7)


class NSRM(nn.Module):
    """CPM with limb-mask stages whose predictions feed the keypoint stages."""

    def __init__(
        self,
        num_joints: int = NUM_JOINTS,
        mask_channels: int = 7,
        num_mask_stages: int = 3,
        num_keypoint_stages: int = 3,
        width_mult: float = 1.0,
        input_size: int = 368,
    ) -> None:
        super().__init__()
        if mask_channels not in MASK_CHANNEL_OPTIONS:
            raise ValueError(f"mask_channels must be one of {MASK_CHANNEL_OPTIONS}, got {mask_channels}")
        if num_mask_stages < 1 or num_keypoint_stages < 1:
            raise ValueError(
                "NSRM needs at least one mask stage and one keypoint stage, got "
                f"num_mask_stages={num_mask_stages}, num_keypoint_stages={num_keypoint_stages}"
            )
        self.num_joints = num_joints
        self.mask_channels = mask_channels
        self.stride = VGGStem.stride
        self.input_size = input_size
        self.stem = VGGStem(width_mult)
        features = self.stem.out_channels

        mask_stages: list[nn.Module] = [InitialStage(features, mask_channels, width_mult)]
        for _ in range(num_mask_stages - 1):
            mask_stages.append(RefinementStage(features + mask_channels, mask_channels, width_mult))
        self.mask_stages = nn.ModuleList(mask_stages)

        keypoint_stages: list[nn.Module] = [
            RefinementStage(features + mask_channels, num_joints, width_mult)
        ]
        for _ in range(num_keypoint_stages - 1):
            keypoint_stages.append(
                RefinementStage(features + mask_channels + num_joints, num_joints, width_mult)
            )
        self.keypoint_stages = nn.ModuleList(keypoint_stages)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        features = self.stem(images)
        masks = torch.sigmoid(self.mask_stages[0](features))
        limb_masks = [masks]
        for stage in self.mask_stages[1:]:
            masks = torch.sigmoid(stage(torch.cat([features, masks], dim=1)))
            limb_masks.append(masks)

        heatmaps = self.keypoint_stages[0](torch.cat([features, masks], dim=1))
        stages = [heatmaps]
        for stage in self.keypoint_stages[1:]:
            heatmaps = stage(torch.cat([features, masks, heatmaps], dim=1))
            stages.append(heatmaps)
        return {"heatmaps": heatmaps, "stages": stages, "limb_masks": limb_masks}
