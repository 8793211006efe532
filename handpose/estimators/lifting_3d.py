"""2D score maps lifted to 3D: Zimmermann & Brox's PosePrior and ViewPoint (ICCV 2017).

Any heatmap network of :class:`~handpose.estimators.heatmap_2d.HeatmapEstimator` (the paper's
PoseNet role) predicts the 21 score maps; PosePrior and ViewPoint
(:class:`~handpose.models.pose_prior.PosePriorViewPoint`) read them with the hand side and
predict the canonical coordinates and the viewpoint rotation (:class:`~handpose.codecs.Canonical3DCodec`
targets). Their composition is the root-relative 3D in units of the middle finger's first
phalanx; it is scaled to mm by the hand size of :mod:`handpose.geometry.fit_3d` (wrist to middle
MCP, the hand's most rigid length): ``lifting.hand_size_mm``, or the mean hand's (about 87 mm).

The estimator subclasses :class:`HeatmapEstimator`, so its 2D network keeps the same weight names:
``init_from`` the bundled 2D weights loads the network, and the lifter starts from its
initialisation.

Training options (the ``lifting`` section):

- ``lift_from``: "ground_truth" feeds the lifter the batch's Gaussian target maps, as the paper
  trains PosePrior and ViewPoint (its "3D from ground-truth score maps"); "predicted" feeds it
  the network's own maps, detached (``detach_predicted``, the default) or not, in which case the
  3D loss also trains the 2D network.
- ``freeze_2d``: the 2D network's weights and batch-norm statistics stay as loaded, so only the
  lifter learns (with ``init_from``); the heatmap loss is then still reported, without gradient.
- ``width``, ``dropout``: the lifter's size (1.0 is the paper's) and dropout (0.2, its keep
  probability 0.8); ``map_size``: the side the score maps are resized to (area averaging) before
  lifting, null for the network's own heatmap size (32 for 128-pixel crops at stride 4, the paper's).
- ``coords_weight``, ``rotation_weight``: the weights of the two squared-L2 losses, on canonical
  coordinates (per labelled joint) and on the rotation matrix (per hand with a canonical frame),
  added to the heatmap loss.

Crops must be ``flip_to_right``: ``forward(images)`` knows no hand side, and the side input the
lifter needs is then the one every crop shows (right). Predictions' ``keypoints_3d`` are turned
from the crop's camera frame back into the image's (the crop's in-plane rotation undone, a
mirrored crop's x -> -x). Validation adds to the 2D figures the root-relative 3D error after scale
alignment and its AUC over 20-50 mm, from the predicted maps (``mpjpe_scale_mm``, ``auc_3d``, as
the bone-vector estimator names them) and from the ground-truth maps (``..._gt_maps``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from handpose.codecs import Canonical3DCodec
from handpose.codecs.target_codec import TargetCodec
from handpose.estimators.heatmap_2d import HeatmapEstimator, _section
from handpose.geometry.fit_3d import hand_size, mean_hand_size
from handpose.metrics import PCK_RANGE_3D_MM, aligned_errors, auc, mean_error
from handpose.models.pose_prior import DROPOUT, PosePriorViewPoint
from handpose.skeleton import NUM_JOINTS

LIFTING_DEFAULTS: dict[str, Any] = {
    "lift_from": "ground_truth",
    "detach_predicted": True,
    "freeze_2d": False,
    "width": 1.0,
    "dropout": DROPOUT,
    "map_size": None,
    "coords_weight": 1.0,
    "rotation_weight": 1.0,
    "hand_size_mm": None,
}
LIFT_FROM = ("ground_truth", "predicted")

#: Keeps a weighted mean defined (and zero) when a batch has nothing labelled in 3D.
_EPS = 1e-8


class Lifting3DEstimator(HeatmapEstimator):
    """Heatmaps lifted to 3D by PosePrior and ViewPoint; predictions carry root-relative 3D in mm."""

    name = "lifting_3d"

    def __init__(
        self,
        network: dict[str, Any],
        codec: dict[str, Any] | None = None,
        crop: dict[str, Any] | None = None,
        loss: dict[str, Any] | None = None,
        lifting: dict[str, Any] | None = None,
    ) -> None:
        settings = _section("estimator.lifting", LIFTING_DEFAULTS, lifting)
        if settings["lift_from"] not in LIFT_FROM:
            raise ValueError(f"estimator.lifting.lift_from: {settings['lift_from']!r} is not one of {', '.join(LIFT_FROM)}")
        if not (settings["width"] > 0 and 0 <= settings["dropout"] < 1 and settings["coords_weight"] >= 0
                and settings["rotation_weight"] >= 0):
            raise ValueError(f"estimator.lifting: need width > 0, 0 <= dropout < 1 and weights >= 0, got {settings}")
        for key in ("map_size", "hand_size_mm"):
            if settings[key] is not None and not settings[key] > 0:
                raise ValueError(f"estimator.lifting.{key} must be positive or null, got {settings[key]}")
        super().__init__(network, codec, crop, loss)
        if not self.crop.flip_to_right:
            raise ValueError("crop.flip_to_right: the lifter needs the hand side, which only right-hand crops fix")
        self.kwargs["lifting"] = settings
        self.lifting = settings
        map_size = self.heatmap_size if settings["map_size"] is None else int(settings["map_size"])
        self.lifter = PosePriorViewPoint(map_size, float(settings["width"]), float(settings["dropout"])).to(
            memory_format=torch.channels_last
        )
        self.canonical_codec = Canonical3DCodec()
        self.hand_size_mm = mean_hand_size() if settings["hand_size_mm"] is None else float(settings["hand_size_mm"])
        if settings["freeze_2d"]:
            self.freeze_network()

    @property
    def targets(self) -> dict[str, TargetCodec]:
        return {"heatmaps": self.codec, "canonical": self.canonical_codec}  # type: ignore[dict-item]  # encodes crops

    def lift(self, score_maps: torch.Tensor, right: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """PosePrior's and ViewPoint's outputs ("canonical", "axis_angle", "rotation") for score
        maps (B, 21, h, w); ``right`` (B,) is 1 for right hands (the default: every crop is one)."""
        size = self.lifter.map_size
        if score_maps.shape[-2:] != (size, size):
            score_maps = F.interpolate(score_maps, size=(size, size), mode="area")
        if right is None:
            right = score_maps.new_ones(len(score_maps))
        return self.lifter(score_maps, right)

    def lift_ground_truth(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The lifter fed the batch's Gaussian target maps and hand sides (the paper's training
        input, and its "3D from ground-truth score maps"), with those maps as "heatmaps"."""
        maps = batch["targets"]["heatmaps"]["heatmaps"]
        return {"heatmaps": maps, **self.lift(maps, batch["targets"]["canonical"]["right"])}

    def forward(self, images: torch.Tensor) -> dict[str, Any]:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.network_frozen):
            outputs = self.network(images)
        heatmaps = outputs["heatmaps"]
        return {**outputs, **self.lift(heatmaps.detach() if self.lifting["detach_predicted"] else heatmaps)}

    def lifting_loss(self, lifted: dict[str, Any], batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Squared L2 of the canonical coordinates (summed over x, y, z, mean over the joints with
        known coordinates) and of the rotation matrix (summed over its entries, mean over hands
        with a canonical frame)."""
        target = batch["targets"]["canonical"]
        weights, valid = target["weights"], target["valid"]
        coords = (lifted["canonical"] - target["coords"]).pow(2).sum(dim=-1)
        rotation = (lifted["rotation"] - target["rotation"]).pow(2).sum(dim=(-2, -1))
        return (
            (coords * weights).sum() / weights.sum().clamp_min(_EPS),
            (rotation * valid).sum() / valid.sum().clamp_min(_EPS),
        )

    def loss(self, outputs: dict[str, Any], batch: dict[str, Any], epoch: int) -> dict[str, torch.Tensor]:
        lifted = self.lift_ground_truth(batch) if self.lifting["lift_from"] == "ground_truth" else outputs
        heatmap_loss = self.heatmap_loss(outputs, batch)
        coords_loss, rotation_loss = self.lifting_loss(lifted, batch)
        total = heatmap_loss + self.lifting["coords_weight"] * coords_loss + self.lifting["rotation_weight"] * rotation_loss
        return {"loss": total, "heatmap_loss": heatmap_loss, "coords_loss": coords_loss, "rotation_loss": rotation_loss}

    def decode_3d(self, outputs: dict[str, Any]) -> np.ndarray:
        """Root-relative 3D keypoints (B, 21, 3) in mm in each crop's camera frame, scaled so that
        the wrist to middle-MCP length is the hand size."""
        coords = outputs["canonical"].detach().double().cpu().numpy()
        rotation = outputs["rotation"].detach().double().cpu().numpy()
        normalised = self.canonical_codec.decode(coords, rotation, "right")
        return normalised * (self.hand_size_mm / hand_size(normalised))[:, None, None]

    def validation_records(self, outputs: dict[str, Any], batch: dict[str, Any]) -> np.ndarray:
        """Per item: the 21 keypoint errors in crop pixels, then the 21 scale-aligned root-relative
        3D errors in mm from the predicted maps and the 21 from the ground-truth maps (NaN where
        not labelled)."""
        target = batch["targets"]["canonical"]
        truth = target["keypoints_3d"].cpu().numpy().astype(np.float64)
        labelled = target["labelled_3d"].cpu().numpy() > 0
        with torch.no_grad():
            from_truth = self.lift_ground_truth(batch)
        errors = [aligned_errors(self.decode_3d(lifted), truth, labelled, "scale") for lifted in (outputs, from_truth)]
        return np.concatenate([super().validation_records(outputs, batch), *errors], axis=1)

    def validation_metrics(self, records: np.ndarray, auc_range_px: tuple[float, float]) -> dict[str, float]:
        keypoints, predicted, from_truth = np.split(records, [NUM_JOINTS, 2 * NUM_JOINTS], axis=1)
        return {
            **super().validation_metrics(keypoints, auc_range_px),
            "mpjpe_scale_mm": mean_error(predicted),
            "auc_3d": _auc_3d(predicted),
            "mpjpe_scale_mm_gt_maps": mean_error(from_truth),
            "auc_3d_gt_maps": _auc_3d(from_truth),
        }


def _auc_3d(errors: np.ndarray) -> float:
    """PCK AUC over :data:`~handpose.metrics.PCK_RANGE_3D_MM`; NaN when nothing is labelled in 3D."""
    low, high, steps = PCK_RANGE_3D_MM
    return auc(errors, low, high, steps) if not np.isnan(errors).all() else float("nan")
