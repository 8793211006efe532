"""2D heatmaps plus 3D bone directions: chainer-hand-pose's route to 3D from one crop.

The MobileNetV2 top-down network (:class:`~handpose.models.MobileNetV2Pose`) keeps its heatmaps;
a small head on its maps (the heatmap head's stride-4 map, joined by the backbone's stride-16 and
stride-32 features) regresses the 20 bones' directions in the crop's camera frame
(:class:`~handpose.codecs.BoneVectorCodec` targets). On the frozen bundled network this head
reached a validation bone angle of 23.1 degrees where a single linear layer on the stride-32
features reached 24.8 (docs/results.md). Directions, unlike 3D positions, need neither the hand's
size nor its distance, which one crop cannot tell. 3D keypoints follow from the directions and
bone lengths: the mean hand's (:func:`~handpose.geometry.fit_3d.mean_bone_lengths`), scaled to
``bones.hand_size_mm`` when set. They are root-relative; the Predictor re-anchors them on the
predicted 2D keypoints (:mod:`handpose.geometry.lift_25d`) and, where K is known, places them in
the camera frame.

The loss is the heatmap loss plus ``bones.weight`` times the mean over labelled bones of
"cosine", 1 - cos(angle) between the predicted and the true direction, or "l2", the squared
distance between the raw predicted vector and the unit target (which also asks for unit length).
The default weight, 0.01, starts the two terms at the same order of magnitude (the unit-peak MSE
of an empty prediction is about 6e-3, the cosine loss of random directions about 1); it is a
starting point to tune, not a measured optimum.

Validation adds to the 2D figures ``bone_angle_deg`` (mean angle between predicted and true bone
directions) and the 3D figures of every 3D head (:mod:`~handpose.estimators.heatmap_3d_head`).

Keyword arguments: those of :class:`~handpose.estimators.heatmap_2d.HeatmapEstimator` (the
network must be "mobilenetv2_pose") plus ``bones`` ({weight, loss: "cosine" | "l2", hidden,
hand_size_mm, freeze_2d}; ``freeze_2d`` as for every 3D head).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from handpose.estimators.heatmap_3d_head import HEAD_DEFAULTS, Heatmap3DHeadEstimator
from handpose.geometry.fit_3d import keypoints_from_bone_directions
from handpose.metrics import mean_error
from handpose.models.hand_layout import HandLayoutEncoder
from handpose.skeleton import BONES

#: The bone head's settings: those of every 3D head (:mod:`~handpose.estimators.heatmap_3d_head`)
#: with a smaller loss weight, and the kind of loss.
BONE_DEFAULTS: dict[str, Any] = {**HEAD_DEFAULTS, "weight": 0.01, "loss": "cosine"}
BONE_LOSSES = ("cosine", "l2")

#: Keeps the weighted mean defined (and zero) when a batch has no bone labelled in 3D.
_EPS = 1e-8


class BoneDirectionHead(HandLayoutEncoder):
    """Bone vectors (B, 20, 3) from the network's maps at three scales: the hand's layout
    (:class:`~handpose.models.hand_layout.HandLayoutEncoder`), read by one linear layer over its
    stride-32 map, whose layout (where the fingers are) matters."""

    def __init__(self, head_channels: int, channels_at_stride: dict[int, int], hidden: int, grid: int) -> None:
        super().__init__(head_channels, channels_at_stride, hidden)
        self.linear = nn.Linear(hidden * grid * grid, 3 * len(BONES))

    def forward(self, features: dict[int, torch.Tensor], head_map: torch.Tensor) -> torch.Tensor:
        return self.linear(self.encode(features, head_map).flatten(1)).unflatten(1, (len(BONES), 3))


class HeatmapBones3DEstimator(Heatmap3DHeadEstimator):
    """MobileNetV2 heatmaps and 3D bone directions; predictions carry root-relative 3D keypoints."""

    name = "heatmap_bones_3d"
    pose_3d_target = "bones"
    head_width = len(BONES)

    def __init__(
        self,
        network: dict[str, Any],
        codec: dict[str, Any] | None = None,
        crop: dict[str, Any] | None = None,
        loss: dict[str, Any] | None = None,
        bones: dict[str, Any] | None = None,
        side_head: bool = False,
    ) -> None:
        super().__init__(network, codec, crop, loss, "bones", BONE_DEFAULTS, bones, side_head)
        if self.head_settings["loss"] not in BONE_LOSSES:
            raise ValueError(f"estimator.bones.loss: {self.head_settings['loss']!r} is not one of {', '.join(BONE_LOSSES)}")
        self.bones = self.head_settings
        self.bone_head = self.layout_head(BoneDirectionHead)

    def forward(self, images: torch.Tensor) -> dict[str, Any]:
        features, head, heatmaps = self.network_maps(images)
        bones = self.bone_head(features, head)
        return {"heatmaps": heatmaps, "stages": [heatmaps], "bones": bones, **self.side_outputs(features, head)}

    def bone_loss(self, outputs: dict[str, Any], batch: dict[str, Any]) -> torch.Tensor:
        """Mean over the bones labelled in 3D of the direction loss ("cosine" or "l2")."""
        target = batch["targets"]["bones"]
        pred, directions, weights = outputs["bones"], target["directions"], target["weights"]
        if self.bones["loss"] == "cosine":
            per_bone = 1.0 - (F.normalize(pred, dim=-1) * directions).sum(dim=-1)
        else:
            per_bone = (pred - directions).pow(2).sum(dim=-1)
        return (per_bone * weights).sum() / weights.sum().clamp_min(_EPS)

    def loss(self, outputs: dict[str, Any], batch: dict[str, Any], epoch: int) -> dict[str, torch.Tensor]:
        heatmap_loss = self.heatmap_loss(outputs, batch)
        bone_loss = self.bone_loss(outputs, batch)
        return {
            "loss": heatmap_loss + self.bones["weight"] * bone_loss,
            "heatmap_loss": heatmap_loss,
            "bone_loss": bone_loss,
        }

    def decode_3d(self, outputs: dict[str, Any]) -> np.ndarray:
        """Root-relative 3D keypoints (B, 21, 3) in mm in each crop's camera frame."""
        directions = outputs["bones"].detach().double().cpu().numpy()
        return keypoints_from_bone_directions(directions, self.bone_lengths)

    def head_records(self, outputs: dict[str, Any], batch: dict[str, Any]) -> np.ndarray:
        """The 20 bone angle errors in degrees (NaN where a bone is not labelled)."""
        target = {key: value.cpu().numpy().astype(np.float64) for key, value in batch["targets"]["bones"].items()}
        predicted = outputs["bones"].detach().double().cpu().numpy()
        units = predicted / np.maximum(np.linalg.norm(predicted, axis=-1, keepdims=True), _EPS)
        cosines = np.clip((units * target["directions"]).sum(axis=-1), -1.0, 1.0)
        return np.where(target["weights"] > 0, np.degrees(np.arccos(cosines)), np.nan)

    def head_metrics(self, records: np.ndarray) -> dict[str, float]:
        return {"bone_angle_deg": mean_error(records)}
