"""2D heatmaps plus per-joint depth maps: the 2.5D route to 3D (Iqbal et al., ECCV 2018).

The MobileNetV2 top-down network (:class:`~handpose.models.MobileNetV2Pose`) keeps its heatmaps;
a small head on its stride-4 head map (joined by the whole hand's layout, which tells which way
the palm faces) predicts, for every joint, a map of its depth relative to the wrist, in units of the
hand's size (wrist to middle MCP). A joint's depth is its map read where its heatmap says it is:
the map averaged with the weights of its own predicted heatmap (kept positive and squared, so the
peak and not the background decides). Depths, unlike 3D positions, need neither the hand's size
nor its distance; each comes straight from the image where the joint is, where bone directions
(:mod:`~handpose.estimators.heatmap_bones_3d`) chain the errors of every bone from the wrist out to
a fingertip's depth.

3D keypoints follow from the 2D keypoints and these depths with the mean hand's bone lengths,
scaled to ``depths.hand_size_mm`` when set (:func:`shape_from_depths`); the Predictor re-anchors
them on the image's own rays (:func:`~handpose.geometry.lift_25d.anchor_prediction`), which is
what ``handpose predict`` and ``handpose eval`` report.

With ``depths.own_up_path`` the head reads, instead of the heatmap head's stride-4 map, a map of
its own: a trainable copy of the heatmap head's up-sampling steps over the backbone's features,
started from the network's own steps when a run's ``init_from`` lacks it
(:meth:`HeatmapDepth25DEstimator.start_new_weights`). The 2D network can then stay frozen, bit for
bit, while the features the depths are read from still learn.

The loss is the heatmap loss plus ``depths.weight`` times the mean absolute error of the
relative depths over the joints labelled in 3D. Validation adds ``depth_error`` (that error, in
hand sizes) and the 3D figures of every 3D head (:mod:`~handpose.estimators.heatmap_3d_head`).

Keyword arguments: those of :class:`~handpose.estimators.heatmap_2d.HeatmapEstimator` (the
network must be "mobilenetv2_pose") plus ``depths``, the settings every 3D head has ({weight,
hidden, hand_size_mm, freeze_2d}) and ``own_up_path`` (default false); ``side_head`` as every 3D head
estimator has it (:mod:`~handpose.estimators.heatmap_3d_head`).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from handpose.estimators.heatmap_3d_head import HEAD_DEFAULTS, Heatmap3DHeadEstimator
from handpose.geometry.fit_3d import SIZE_BONE, keypoints_from_bone_directions
from handpose.metrics import mean_error
from handpose.models.hand_layout import HandLayoutEncoder
from handpose.models.mobilenetv2_pose import conv_bn, upsample
from handpose.skeleton import NUM_JOINTS, ROOT, bone_vectors

#: Keeps the weighted means defined when a batch has no joint labelled in 3D.
_EPS = 1e-8
#: The depth settings: every 3D head's, and whether the head up-samples the backbone's features itself.
DEPTH_DEFAULTS: dict[str, Any] = {**HEAD_DEFAULTS, "own_up_path": False}


class DepthMapHead(HandLayoutEncoder):
    """Relative depth maps (B, 21, H, W) at the head map's stride 4: its local evidence (a 3x3
    convolution of the head map) plus the whole hand's layout in one vector (a linear layer over
    :class:`~handpose.models.hand_layout.HandLayoutEncoder`'s stride-32 map), added at every cell,
    then mixed. Depth relative to the wrist needs both: which way the palm faces, from the whole
    crop, and how a finger is foreshortened, where it is. Where :attr:`up` holds up-sampling steps
    of its own (``depths.own_up_path``), the head map it reads is theirs, not the network's."""

    def __init__(self, head_channels: int, channels_at_stride: dict[int, int], hidden: int, grid: int) -> None:
        super().__init__(head_channels, channels_at_stride, hidden)
        self.summary = nn.Linear(hidden * grid * grid, hidden)
        self.local = conv_bn(head_channels, hidden, 3)
        self.mix = conv_bn(hidden, hidden, 3)
        self.predict = nn.Conv2d(hidden, NUM_JOINTS, 1)
        self.up: nn.ModuleList | None = None

    def forward(self, features: dict[int, torch.Tensor], head_map: torch.Tensor) -> torch.Tensor:
        if self.up is not None:
            head_map = upsample(self.up, features)
        layout = self.summary(self.encode(features, head_map).flatten(1))
        return self.predict(self.mix(self.local(head_map) + layout[:, :, None, None]))


def read_depths(depth_maps: torch.Tensor, heatmaps: torch.Tensor) -> torch.Tensor:
    """(B, 21) depths: each joint's map averaged with its heatmap's weights, kept positive and
    squared so that the peak, not the low background over the whole map, decides. A joint whose
    heatmap is nowhere positive reads the plain mean of its map."""
    weights = heatmaps.float().clamp_min(0.0).square()
    total = weights.sum(dim=(-2, -1), keepdim=True)
    uniform = torch.full_like(weights, 1.0 / weights[0, 0].numel())
    weights = torch.where(total > 0, weights / total.clamp_min(_EPS), uniform)
    return (depth_maps.float() * weights).sum(dim=(-2, -1))


class HeatmapDepth25DEstimator(Heatmap3DHeadEstimator):
    """MobileNetV2 heatmaps and per-joint relative depths; predictions carry root-relative 3D."""

    name = "heatmap_depth_25d"

    def __init__(
        self,
        network: dict[str, Any],
        codec: dict[str, Any] | None = None,
        crop: dict[str, Any] | None = None,
        loss: dict[str, Any] | None = None,
        depths: dict[str, Any] | None = None,
        side_head: bool = False,
    ) -> None:
        super().__init__(network, codec, crop, loss, "depths", DEPTH_DEFAULTS, depths, side_head)
        self.depths = self.head_settings
        self.depth_head = self.layout_head(DepthMapHead)
        if self.depths["own_up_path"]:  # learns even where the network is frozen
            self.depth_head.up = copy.deepcopy(self.network.head).requires_grad_(True)

    def start_new_weights(self, missing: list[str]) -> None:
        """Own up-sampling steps that the weights loaded lack start as the network's own steps,
        so the head starts from the map it was trained on."""
        if self.depth_head.up is not None and any(name.startswith("depth_head.up.") for name in missing):
            self.depth_head.up.load_state_dict(self.network.head.state_dict())

    def forward(self, images: torch.Tensor) -> dict[str, Any]:
        features, head, heatmaps = self.network_maps(images)
        depths = read_depths(self.depth_head(features, head), heatmaps.detach())
        # Relative to the wrist: its own depth is 0, whatever its map says.
        depths = torch.cat([depths[:, :ROOT], torch.zeros_like(depths[:, ROOT : ROOT + 1]), depths[:, ROOT + 1 :]], dim=1)
        return {"heatmaps": heatmaps, "stages": [heatmaps], "depths": depths, **self.side_outputs(features, head)}

    def depth_loss(self, outputs: dict[str, Any], batch: dict[str, Any]) -> torch.Tensor:
        """Mean absolute error of the relative depths, in hand sizes, over the joints labelled in
        3D of the hands whose size is labelled."""
        target, weights = _depth_targets(batch["targets"]["pose_3d"])
        return ((outputs["depths"] - target).abs() * weights).sum() / weights.sum().clamp_min(_EPS)

    def loss(self, outputs: dict[str, Any], batch: dict[str, Any], epoch: int) -> dict[str, torch.Tensor]:
        heatmap_loss = self.heatmap_loss(outputs, batch)
        depth_loss = self.depth_loss(outputs, batch)
        return {"loss": heatmap_loss + self.depths["weight"] * depth_loss, "heatmap_loss": heatmap_loss, "depth_loss": depth_loss}

    def decode_3d(self, outputs: dict[str, Any]) -> np.ndarray:
        """Root-relative 3D keypoints (B, 21, 3) in mm in each crop's camera frame, from the decoded
        2D keypoints and the predicted depths (:func:`shape_from_depths`)."""
        keypoints, _ = self.decode(outputs)
        depths = outputs["depths"].detach().double().cpu().numpy() * self.hand_size_mm
        return shape_from_depths(keypoints, depths, self.bone_lengths)

    def head_records(self, outputs: dict[str, Any], batch: dict[str, Any]) -> np.ndarray:
        """The 21 relative depth errors in hand sizes (NaN where not labelled)."""
        target, weights = (value.cpu().numpy() for value in _depth_targets(batch["targets"]["pose_3d"]))
        return np.where(weights > 0, np.abs(outputs["depths"].detach().cpu().numpy() - target), np.nan)

    def head_metrics(self, records: np.ndarray) -> dict[str, float]:
        return {"depth_error": mean_error(records)}


def shape_from_depths(keypoints_2d: np.ndarray, depths: np.ndarray, bone_lengths: np.ndarray) -> np.ndarray:
    """Root-relative 3D keypoints (..., 21, 3), mm, with the given bone lengths (20,) and, as far
    as the lengths allow, the given depths relative to the wrist (..., 21): each bone rises by its
    depth difference (clipped to its length) and spends the rest of its length along its 2D
    direction in the crop. The shape's depths and bone lengths are what re-anchoring on the image's
    rays keeps (:func:`~handpose.geometry.lift_25d.anchor_to_2d`), so exact 2D and exact depths give
    back the exact 3D there; its in-plane layout only approximates the 3D one (the crop's
    perspective is left out) and is replaced by that re-anchoring."""
    lengths = np.broadcast_to(np.asarray(bone_lengths, dtype=np.float64), np.shape(depths)[:-1] + (NUM_JOINTS - 1,))
    rise = np.clip(bone_vectors(np.asarray(depths, dtype=np.float64)[..., None])[..., 0] / lengths, -1.0, 1.0)
    flat = bone_vectors(np.asarray(keypoints_2d, dtype=np.float64))
    flat = flat / np.maximum(np.linalg.norm(flat, axis=-1, keepdims=True), _EPS)
    directions = np.concatenate([np.sqrt(1.0 - rise**2)[..., None] * flat, rise[..., None]], axis=-1)
    return keypoints_from_bone_directions(directions, lengths)


def _depth_targets(pose_3d: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 21) depths relative to the wrist in hand sizes, and their weights: 1 for a joint other
    than the wrist labelled in 3D, in a hand whose size bone is labelled, else 0."""
    keypoints, labelled = pose_3d["keypoints_3d"].float(), pose_3d["labelled_3d"].float()
    size_bone = keypoints[:, SIZE_BONE[1]] - keypoints[:, SIZE_BONE[0]]
    sized = (labelled[:, SIZE_BONE[0]] * labelled[:, SIZE_BONE[1]]) * (size_bone.norm(dim=-1) > 0).float()
    size = size_bone.norm(dim=-1).clamp_min(_EPS)
    weights = labelled * sized[:, None]
    weights[:, ROOT] = 0.0
    return keypoints[..., 2] / size[:, None] * weights, weights
