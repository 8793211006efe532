"""What every 3D head on the MobileNetV2 heatmap network shares: its settings, the frozen 2D network
it may sit on, the maps it reads, the hand size of its 3D and its 3D validation figures.

A 3D head estimator (:mod:`~handpose.estimators.heatmap_bones_3d`,
:mod:`~handpose.estimators.heatmap_depth_25d`) is the top-down heatmap estimator plus one head on
the network's maps. Its settings section (``estimator.bones``, ``estimator.depths``) always holds
``weight`` (of the head's loss beside the heatmap loss), ``hidden`` (the head's channels),
``hand_size_mm`` (wrist to middle MCP of its 3D; None: the mean hand's) and ``freeze_2d``: with
it (and ``init_from`` a 2D model) the 2D network is kept as loaded and only the head learns, so a
2D model gains 3D with its 2D unchanged, bit for bit. Each subclass adds its head, its loss term
and how it decodes 3D; validation adds to the 2D figures the head's own records, then
``mpjpe_scale_mm`` (root-relative 3D error after scale alignment, so independent of the assumed
hand size) and ``auc_3d`` (its PCK AUC over 20-50 mm).

With ``side_head`` the estimator also says which side each crop shows
(:class:`~handpose.models.side_head.SideHead`, fitted after training by ``handpose side-head``):
its outputs gain ``side_logits`` and each prediction's ``hand_score`` is the probability that the
hand is of the side the prediction names, which the Predictor's choice between a crop and its
mirror uses instead of the keypoint scores (:attr:`reads_side`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from handpose.codecs import BoneVectorCodec
from handpose.codecs.target_codec import TargetCodec
from handpose.estimators.heatmap_2d import HeatmapEstimator, _section
from handpose.geometry.fit_3d import mean_bone_lengths, mean_hand_size
from handpose.metrics import PCK_RANGE_3D_MM, aligned_errors, auc, mean_error
from handpose.models.hand_layout import HandLayoutEncoder
from handpose.models.mobilenetv2_pose import MobileNetV2Pose
from handpose.models.side_head import SideHead
from handpose.skeleton import NUM_JOINTS
from handpose.structures import HandPrediction

#: The settings every 3D head has (module docstring); a subclass's defaults extend these.
HEAD_DEFAULTS: dict[str, Any] = {"weight": 1.0, "hidden": 64, "hand_size_mm": None, "freeze_2d": False}


class Heatmap3DHeadEstimator(HeatmapEstimator):
    """The heatmap estimator on MobileNetV2 with a 3D head's settings (module docstring).

    ``section`` names the settings (``estimator.<section>``, also the keyword argument the
    subclass takes and its spec stores); ``defaults`` are the subclass's, ``given`` the user's.
    """

    #: The columns of :meth:`head_records`.
    head_width = NUM_JOINTS
    #: The name of the 3D target (:class:`~handpose.codecs.BoneVectorCodec`'s: bone directions, and
    #: the "keypoints_3d" and "labelled_3d" that validation scores the 3D against).
    pose_3d_target = "pose_3d"

    def __init__(
        self,
        network: dict[str, Any],
        codec: dict[str, Any] | None,
        crop: dict[str, Any] | None,
        loss: dict[str, Any] | None,
        section: str,
        defaults: dict[str, Any],
        given: dict[str, Any] | None,
        side_head: bool = False,
    ) -> None:
        settings = _section(f"estimator.{section}", defaults, given)
        if not settings["weight"] >= 0 or int(settings["hidden"]) < 1:
            raise ValueError(f"estimator.{section}: weight must be >= 0 and hidden >= 1, got {settings}")
        if settings["hand_size_mm"] is not None and not settings["hand_size_mm"] > 0:
            raise ValueError(f"estimator.{section}.hand_size_mm must be positive or null, got {settings['hand_size_mm']}")
        super().__init__(network, codec, crop, loss)
        if not isinstance(self.network, MobileNetV2Pose):
            raise ValueError(f"model.name: a 3D head needs mobilenetv2_pose, got {network.get('name')!r}")
        self.kwargs[section] = settings
        self.head_settings = settings
        self.pose_3d_codec = BoneVectorCodec()
        self.hand_size_mm = mean_hand_size() if settings["hand_size_mm"] is None else float(settings["hand_size_mm"])
        self.bone_lengths = mean_bone_lengths() * (self.hand_size_mm / mean_hand_size())
        if settings["freeze_2d"]:
            self.freeze_network()
        self.side_head: SideHead | None = None
        if side_head:
            self.add_side_head()

    def add_side_head(self) -> None:
        """A new, unfitted side head (saying nothing until fitted), recorded in the spec so that a
        weights file rebuilds it. The spec leaves it out when there is none, so specs from before
        side heads rebuild as they were."""
        self.kwargs["side_head"] = True
        head = SideHead(self.network.backbone.channels_at_stride, self.network.predict.in_channels)
        self.side_head = head.to(self.network.predict.weight.device)

    @property
    def reads_side(self) -> bool:
        return self.side_head is not None

    def side_outputs(self, features: dict[int, torch.Tensor], head_map: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"side_logits": (B,)}`` from the side head, or nothing without one: for each forward."""
        return {} if self.side_head is None else {"side_logits": self.side_head(features, head_map)}

    def predict(
        self,
        outputs: dict[str, Any],
        affines: np.ndarray,
        flipped: np.ndarray,
        finder: str = "",
        hand_scores: np.ndarray | None = None,
    ) -> list[HandPrediction]:
        """As :meth:`Estimator.predict`; with a side head, ``hand_score`` is the probability that
        the crop shows a right hand, which is the side the prediction names (a mirrored crop's
        right hand appears as a left one)."""
        if hand_scores is None and "side_logits" in outputs:
            hand_scores = torch.sigmoid(torch.as_tensor(outputs["side_logits"]).float()).cpu().numpy()
        return super().predict(outputs, affines, flipped, finder, hand_scores)

    @property
    def targets(self) -> dict[str, TargetCodec]:
        return {"heatmaps": self.codec, self.pose_3d_target: self.pose_3d_codec}  # type: ignore[dict-item]  # encodes crops

    def layout_head(self, head_type: Callable[..., HandLayoutEncoder]) -> HandLayoutEncoder:
        """A head of ``head_type`` sized to this network's maps, with the settings' ``hidden``
        channels (:class:`~handpose.models.hand_layout.HandLayoutEncoder`'s arguments and the
        stride-32 grid of the crop)."""
        network = self.network
        return head_type(
            network.predict.in_channels, network.backbone.channels_at_stride, int(self.head_settings["hidden"]),
            self.crop.input_size // 32,
        ).to(memory_format=torch.channels_last)

    def network_maps(self, images: torch.Tensor) -> tuple[dict[int, torch.Tensor], torch.Tensor, torch.Tensor]:
        """The backbone's features by stride, the heatmap head's stride-4 map and the heatmaps;
        without gradients where the network is frozen."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.network_frozen):
            features, head = self.network.forward_features(images)
            return features, head, self.network.predict(head)

    def head_records(self, outputs: dict[str, Any], batch: dict[str, Any]) -> np.ndarray:
        """The head's own per-item validation figures, ``head_width`` columns (NaN: not labelled)."""
        raise NotImplementedError

    def head_metrics(self, records: np.ndarray) -> dict[str, float]:
        """The head's own epoch figures from :meth:`head_records`'s columns."""
        raise NotImplementedError

    def validation_records(self, outputs: dict[str, Any], batch: dict[str, Any]) -> np.ndarray:
        """Per item: the 21 keypoint errors in crop pixels, the head's own figures and the 21
        scale-aligned root-relative 3D errors in mm (NaN where not labelled)."""
        targets = batch["targets"]
        pose = {key: value.cpu().numpy().astype(np.float64) for key, value in targets[self.pose_3d_target].items()}
        errors = aligned_errors(self.decode_3d(outputs), pose["keypoints_3d"], pose["labelled_3d"] > 0, "scale")
        return np.concatenate([super().validation_records(outputs, batch), self.head_records(outputs, batch), errors], axis=1)

    def validation_metrics(self, records: np.ndarray, auc_range_px: tuple[float, float]) -> dict[str, float]:
        keypoints, own, errors = np.split(records, [NUM_JOINTS, NUM_JOINTS + self.head_width], axis=1)
        low, high, steps = PCK_RANGE_3D_MM
        return {
            **super().validation_metrics(keypoints, auc_range_px),
            **self.head_metrics(own),
            "mpjpe_scale_mm": mean_error(errors),
            "auc_3d": auc(errors, low, high, steps) if not np.isnan(errors).all() else float("nan"),
        }
