"""2D keypoints from Gaussian heatmaps: the FreiHAND U-Net, the CPM and the MobileNetV2 default.

One estimator for every heatmap network of :mod:`handpose.models`: the network predicts one map
per joint (and, for multi-stage networks, one set per stage); the targets are
:class:`~handpose.codecs.GaussianHeatmapCodec` maps with zero weight for unlabelled joints; the
loss is MSE or the U-Net's soft IoU over the supervised stages; decoding is the codec's.

Keyword arguments (plain data, as a weights file records them), each a section of an experiment
config: ``network`` ({"name": a :func:`~handpose.models.build_model` name, **its kwargs}),
``codec`` ({input_size, heatmap_size, sigma, unit_peak, decoder}), ``crop`` ({padding,
flip_to_right}) and ``loss`` ({heatmap: "mse" | "iou", intermediate}). Errors name the section
and key, e.g. ``codec.heatmap_size ...``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from handpose.codecs import GaussianHeatmapCodec
from handpose.codecs.target_codec import TargetCodec
from handpose.estimators.base import CropSpec, Estimator
from handpose.models import build_model
from handpose.models.losses import heatmap_iou_loss, heatmap_mse, multi_stage_loss

HEATMAP_LOSSES = {"mse": heatmap_mse, "iou": heatmap_iou_loss}

#: Defaults of the ``codec``, ``crop`` and ``loss`` sections.
CODEC_DEFAULTS: dict[str, Any] = {"input_size": 128, "heatmap_size": None, "sigma": 2.0, "unit_peak": False, "decoder": "dark"}
CROP_DEFAULTS: dict[str, Any] = {"padding": 1.5, "flip_to_right": True}
LOSS_DEFAULTS: dict[str, Any] = {"heatmap": "mse", "intermediate": True}


class HeatmapEstimator(Estimator):
    """A heatmap network with its Gaussian targets, heatmap loss and decoder."""

    name = "heatmap_2d"

    def __init__(
        self,
        network: dict[str, Any],
        codec: dict[str, Any] | None = None,
        crop: dict[str, Any] | None = None,
        loss: dict[str, Any] | None = None,
    ) -> None:
        codec_settings = _section("codec", CODEC_DEFAULTS, codec)
        crop_settings = _section("crop", CROP_DEFAULTS, crop)
        loss_settings = _section("loss", LOSS_DEFAULTS, loss)
        super().__init__(
            CropSpec(int(codec_settings["input_size"]), float(crop_settings["padding"]), bool(crop_settings["flip_to_right"])),
            {"network": dict(network), "codec": codec_settings, "crop": crop_settings, "loss": loss_settings},
        )
        if loss_settings["heatmap"] not in HEATMAP_LOSSES:
            raise ValueError(f"loss.heatmap: {loss_settings['heatmap']!r} is not one of {', '.join(HEATMAP_LOSSES)}")
        self.heatmap_loss_fn = HEATMAP_LOSSES[loss_settings["heatmap"]]
        self.intermediate = bool(loss_settings["intermediate"])
        self.network = self._build_network(dict(network), self.crop.input_size)
        self.codec = self._build_codec(codec_settings)
        self.network_frozen = False

    def freeze_network(self, frozen: bool = True) -> None:
        """Keep the heatmap network as loaded (``init_from``) while a head added on it learns: no
        gradients, and eval mode for good, since its batch-norm statistics are part of what was
        loaded and batch statistics would move its maps. Set now, not only in :meth:`train`:
        Lightning restores each submodule's mode as it found it before validation. ``frozen=False``
        lets it learn again (``handpose adapt`` trains the network of weights whose head was
        trained on it frozen)."""
        self.network_frozen = frozen
        self.network.requires_grad_(not frozen)
        self.network.train(self.training and not frozen)

    def train(self, mode: bool = True) -> HeatmapEstimator:
        """As :meth:`torch.nn.Module.train`, but a frozen network stays in eval mode."""
        super().train(mode)
        if self.network_frozen:
            self.network.eval()
        return self

    def network_kwargs(self) -> dict[str, tuple[Any, str]]:
        """Network keyword arguments that follow from the estimator's own settings, each with the
        setting it follows from (none here; NSRM's mask channels follow from its limb groups)."""
        return {}

    def _build_network(self, network: dict[str, Any], input_size: int) -> torch.nn.Module:
        name = network.pop("name", None)
        if not isinstance(name, str):
            raise ValueError("model.name is required (a handpose.models.build_model name)")
        derived = {"input_size": (input_size, "codec.input_size"), **self.network_kwargs()}
        for key, (_, source) in derived.items():
            if key in network:
                raise ValueError(f"model.{key}: it follows from {source}; leave it out")
        try:
            return build_model(name, **network, **{key: value for key, (value, _) in derived.items()})
        except (TypeError, ValueError) as error:
            raise ValueError(f"model: {error}") from None

    def _build_codec(self, settings: dict[str, Any]) -> GaussianHeatmapCodec:
        input_size, stride = self.crop.input_size, self.network.stride
        if input_size % stride:
            raise ValueError(f"codec.input_size {input_size} is not a multiple of the model stride {stride}")
        derived = input_size // stride
        if settings["heatmap_size"] not in (None, derived):
            raise ValueError(
                f"codec.heatmap_size {settings['heatmap_size']} does not match the model: input "
                f"{input_size} / stride {stride} = {derived}"
            )
        try:
            return GaussianHeatmapCodec(input_size, derived, settings["sigma"], settings["unit_peak"], settings["decoder"])
        except ValueError as error:
            raise ValueError(f"codec: {error}") from None

    @property
    def heatmap_size(self) -> int:
        return self.crop.input_size // self.network.stride

    @property
    def targets(self) -> dict[str, TargetCodec]:
        return {"heatmaps": self.codec}

    def forward(self, images: torch.Tensor) -> dict[str, Any]:
        return self.network(images)

    def heatmap_loss(self, outputs: dict[str, Any], batch: dict[str, Any]) -> torch.Tensor:
        """The heatmap loss of every stage (or of the final heatmaps only, without intermediate supervision)."""
        stages = outputs.get("stages") if self.intermediate else None
        target = batch["targets"]["heatmaps"]
        return multi_stage_loss(stages or [outputs["heatmaps"]], target["heatmaps"], target["weights"], self.heatmap_loss_fn)

    def loss(self, outputs: dict[str, Any], batch: dict[str, Any], epoch: int) -> dict[str, torch.Tensor]:
        heatmap_loss = self.heatmap_loss(outputs, batch)
        return {"loss": heatmap_loss, "heatmap_loss": heatmap_loss}

    def decode(self, outputs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        return self.codec.decode(outputs["heatmaps"].detach().float().cpu())


def _section(name: str, defaults: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    """``given`` over ``defaults``; a key the section does not have is an error naming it."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"{name}.{unknown[0]}: unknown key; {name} has {', '.join(defaults)}")
    return {**defaults, **given}


def require_defaults(
    section: str, settings: dict[str, Any], defaults: dict[str, Any], used: tuple[str, ...], who: str, instead: str
) -> None:
    """Keys of a pose estimator's config section that an image-level estimator (``who``) does not
    use must keep their defaults, so a setting that would do nothing is an error, not ignored."""
    for key, value in settings.items():
        if key not in used and value != defaults[key]:
            raise ValueError(f"{section}.{key}: does not apply to {who} ({instead}); leave it out")
