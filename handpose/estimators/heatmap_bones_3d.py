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
directions), ``mpjpe_scale_mm`` (root-relative 3D error after scale alignment, so independent of
the assumed hand size) and ``auc_3d`` (its PCK AUC over 20-50 mm).

Keyword arguments: those of :class:`~handpose.estimators.heatmap_2d.HeatmapEstimator` (the
network must be "mobilenetv2_pose") plus ``bones`` ({weight, loss: "cosine" | "l2", hidden,
hand_size_mm, freeze_2d}). With ``freeze_2d`` (and ``init_from`` a 2D model) the 2D network is kept
as loaded and only the bone head learns, so a 2D model gains 3D with its 2D unchanged, bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from handpose.codecs import BoneVectorCodec
from handpose.codecs.target_codec import TargetCodec
from handpose.estimators.heatmap_2d import HeatmapEstimator, _section
from handpose.geometry.fit_3d import keypoints_from_bone_directions, mean_bone_lengths, mean_hand_size
from handpose.metrics import PCK_RANGE_3D_MM, aligned_errors, auc, mean_error
from handpose.models.mobilenetv2_pose import MobileNetV2Pose, conv_bn
from handpose.skeleton import BONES, NUM_JOINTS

#: The bone head's settings: loss weight and kind, channels before its linear layer, the hand size
#: (wrist to middle MCP, mm) of its 3D keypoints (None: the mean hand's), and whether the loaded 2D
#: network stays as it is while the head learns (``freeze_2d``).
BONE_DEFAULTS: dict[str, Any] = {"weight": 0.01, "loss": "cosine", "hidden": 64, "hand_size_mm": None, "freeze_2d": False}
BONE_LOSSES = ("cosine", "l2")

#: Keeps the weighted mean defined (and zero) when a batch has no bone labelled in 3D.
_EPS = 1e-8


class BoneDirectionHead(nn.Module):
    """Bone vectors (B, 20, 3) from the network's maps at three scales. The heatmap head's
    stride-4 map, which knows where each joint is, is stepped down by strided 3x3 convolutions
    and joined at strides 16 and 32 by the backbone's maps, which see the whole hand; one linear
    layer over the final stride-32 map, whose layout (where the fingers are) matters, gives the
    vectors."""

    def __init__(self, head_channels: int, channels_at_stride: dict[int, int], hidden: int, grid: int) -> None:
        super().__init__()
        self.down = nn.ModuleList([conv_bn(head_channels, hidden, 3, 2), conv_bn(hidden, hidden, 3, 2), conv_bn(hidden, hidden, 3, 2)])
        self.lateral = nn.ModuleList([conv_bn(channels_at_stride[16], hidden), conv_bn(channels_at_stride[32], hidden)])
        self.linear = nn.Linear(hidden * grid * grid, 3 * len(BONES))

    def forward(self, features: dict[int, torch.Tensor], head_map: torch.Tensor) -> torch.Tensor:
        x = self.down[0](head_map)  # stride 8
        x = self.down[1](x) + self.lateral[0](features[16])
        x = self.down[2](x) + self.lateral[1](features[32])
        return self.linear(x.flatten(1)).unflatten(1, (len(BONES), 3))


class HeatmapBones3DEstimator(HeatmapEstimator):
    """MobileNetV2 heatmaps and 3D bone directions; predictions carry root-relative 3D keypoints."""

    name = "heatmap_bones_3d"

    def __init__(
        self,
        network: dict[str, Any],
        codec: dict[str, Any] | None = None,
        crop: dict[str, Any] | None = None,
        loss: dict[str, Any] | None = None,
        bones: dict[str, Any] | None = None,
    ) -> None:
        settings = _section("estimator.bones", BONE_DEFAULTS, bones)
        if settings["loss"] not in BONE_LOSSES:
            raise ValueError(f"estimator.bones.loss: {settings['loss']!r} is not one of {', '.join(BONE_LOSSES)}")
        if not settings["weight"] >= 0 or int(settings["hidden"]) < 1:
            raise ValueError(f"estimator.bones: weight must be >= 0 and hidden >= 1, got {settings}")
        if settings["hand_size_mm"] is not None and not settings["hand_size_mm"] > 0:
            raise ValueError(f"estimator.bones.hand_size_mm must be positive or null, got {settings['hand_size_mm']}")
        super().__init__(network, codec, crop, loss)
        if not isinstance(self.network, MobileNetV2Pose):
            raise ValueError(f"model.name: the bone head needs mobilenetv2_pose, got {network.get('name')!r}")
        self.kwargs["bones"] = settings
        self.bones = settings
        backbone = self.network.backbone
        self.bone_head = BoneDirectionHead(
            self.network.predict.in_channels, backbone.channels_at_stride, int(settings["hidden"]), self.crop.input_size // 32
        ).to(memory_format=torch.channels_last)
        self.bone_codec = BoneVectorCodec()
        size = mean_hand_size() if settings["hand_size_mm"] is None else float(settings["hand_size_mm"])
        self.bone_lengths = mean_bone_lengths() * (size / mean_hand_size())
        if settings["freeze_2d"]:
            self.freeze_network()

    @property
    def targets(self) -> dict[str, TargetCodec]:
        return {"heatmaps": self.codec, "bones": self.bone_codec}  # type: ignore[dict-item]  # encodes crops

    def forward(self, images: torch.Tensor) -> dict[str, Any]:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.network_frozen):
            features, head = self.network.forward_features(images)
            heatmaps = self.network.predict(head)
        return {"heatmaps": heatmaps, "stages": [heatmaps], "bones": self.bone_head(features, head)}

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

    def validation_records(self, outputs: dict[str, Any], batch: dict[str, Any]) -> np.ndarray:
        """Per item: the 21 keypoint errors in crop pixels, the 20 bone angle errors in degrees and
        the 21 scale-aligned root-relative 3D errors in mm (NaN where not labelled)."""
        target = {key: value.cpu().numpy().astype(np.float64) for key, value in batch["targets"]["bones"].items()}
        predicted = outputs["bones"].detach().double().cpu().numpy()
        units = predicted / np.maximum(np.linalg.norm(predicted, axis=-1, keepdims=True), _EPS)
        cosines = np.clip((units * target["directions"]).sum(axis=-1), -1.0, 1.0)
        angles = np.where(target["weights"] > 0, np.degrees(np.arccos(cosines)), np.nan)
        errors = aligned_errors(self.decode_3d(outputs), target["keypoints_3d"], target["labelled_3d"] > 0, "scale")
        return np.concatenate([super().validation_records(outputs, batch), angles, errors], axis=1)

    def validation_metrics(self, records: np.ndarray, auc_range_px: tuple[float, float]) -> dict[str, float]:
        keypoints, angles, errors = np.split(records, [NUM_JOINTS, NUM_JOINTS + len(BONES)], axis=1)
        low, high, steps = PCK_RANGE_3D_MM
        return {
            **super().validation_metrics(keypoints, auc_range_px),
            "bone_angle_deg": mean_error(angles),
            "mpjpe_scale_mm": mean_error(errors),
            "auc_3d": auc(errors, low, high, steps) if not np.isnan(errors).all() else float("nan"),
        }
