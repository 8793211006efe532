"""NSRM (Chen et al., WACV 2020): heatmaps plus structure learning from limb masks.

The network (:class:`handpose.models.NSRM`) predicts limb masks before the keypoint stages; the
masks are a declared target (:class:`~handpose.codecs.LimbMaskCodec`, "nonparametric": drawn
from the keypoints alone) and their cross-entropy is added to the heatmap loss with a weight
that decays in steps over the epochs (:func:`~handpose.models.losses.decaying_weight`).

Validation reports the heatmap term only: the structure weight changes with the epoch, which
would make validation losses of different epochs incomparable (and early stopping and the best
checkpoint would chase the schedule).

Keyword arguments: those of :class:`~handpose.estimators.heatmap_2d.HeatmapEstimator` plus
``limbs`` ({mode: "ldm" | "lpm", groups: "G1" | "G1G6", width, weight, decay, decay_every}).
"""

from __future__ import annotations

from typing import Any

import torch

from handpose.codecs import LIMB_GROUPS, LimbMaskCodec
from handpose.codecs.target_codec import TargetCodec
from handpose.estimators.heatmap_2d import HeatmapEstimator, _section
from handpose.models.losses import decaying_weight, limb_mask_channel_weights, limb_mask_loss, multi_stage_loss

#: NSRM's settings: LPM masks of the hand, the five fingers and the palm, half-width 1 heatmap
#: pixel, structure weight 0.1 decayed tenfold every 20 epochs.
LIMB_DEFAULTS: dict[str, Any] = {"mode": "lpm", "groups": "G1G6", "width": 1.0, "weight": 0.1, "decay": 0.1, "decay_every": 20}


class NSRMEstimator(HeatmapEstimator):
    """CPM heatmaps supervised together with NSRM's limb masks."""

    name = "nsrm"

    def __init__(
        self,
        network: dict[str, Any],
        codec: dict[str, Any] | None = None,
        crop: dict[str, Any] | None = None,
        loss: dict[str, Any] | None = None,
        limbs: dict[str, Any] | None = None,
    ) -> None:
        self.limbs = _section("estimator.limbs", LIMB_DEFAULTS, limbs)
        if self.limbs["groups"] not in ("G1", "G1G6"):
            raise ValueError(f"estimator.limbs.groups: {self.limbs['groups']!r} is not one of G1, G1G6")
        super().__init__(network, codec, crop, loss)
        self.kwargs["limbs"] = self.limbs
        try:
            self.limb_codec = LimbMaskCodec(
                self.crop.input_size, self.heatmap_size, self.limbs["mode"], self.limbs["groups"], self.limbs["width"]
            )
        except ValueError as error:
            raise ValueError(f"estimator.limbs: {error}") from None

    def network_kwargs(self) -> dict[str, tuple[Any, str]]:
        return {"mask_channels": (len(LIMB_GROUPS[self.limbs["groups"]]), "estimator.limbs.groups")}

    @property
    def targets(self) -> dict[str, TargetCodec]:
        return {"heatmaps": self.codec, "limb_masks": self.limb_codec}

    def structure_weight(self, epoch: int) -> float:
        return decaying_weight(epoch, self.limbs["weight"], self.limbs["decay"], self.limbs["decay_every"])

    def structure_loss(self, outputs: dict[str, Any], batch: dict[str, Any]) -> torch.Tensor:
        """The limb-mask loss summed over the mask stages, with NSRM's composition (G1 at 1, each
        G6 part at 0.2) times the share of labelled bones of each mask."""
        target = batch["targets"]["limb_masks"]
        masks = outputs["limb_masks"]
        composition = limb_mask_channel_weights(target["masks"].shape[1]).to(masks[-1].device, masks[-1].dtype)
        return multi_stage_loss(masks, target["masks"], target["weights"] * composition, limb_mask_loss)

    def loss(self, outputs: dict[str, Any], batch: dict[str, Any], epoch: int) -> dict[str, torch.Tensor]:
        heatmap_loss = self.heatmap_loss(outputs, batch)
        structure_loss = self.structure_loss(outputs, batch)
        weight = self.structure_weight(epoch)
        return {
            "loss": heatmap_loss + weight * structure_loss,
            "heatmap_loss": heatmap_loss,
            "structure_loss": structure_loss,
            "structure_weight": torch.tensor(weight),
        }

    def validation_loss(self, outputs: dict[str, Any], batch: dict[str, Any]) -> torch.Tensor:
        return self.heatmap_loss(outputs, batch)
