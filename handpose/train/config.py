"""Experiment configs: one YAML file per experiment, checked against typed sections.

A config names everything a run needs (data sources and their weights, estimator, model, codec,
augmentation, loss, optimiser, schedule, length, early stopping, trainer, output folder), so no
source edit is needed to run an experiment. ``key=value`` overrides use dotted paths
(``trainer.max_epochs=3``, ``data.train.0.weight=2``) with values parsed as YAML. Keys that the
sections do not define are errors naming the key; ``model`` and ``estimator`` are the free-form
sections, because their keys are the keyword arguments of :func:`handpose.models.build_model` and
the estimator's own options (NSRM's ``limbs``, say), which the estimator checks itself.
"""

from __future__ import annotations

import dataclasses
import re
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from handpose.data.augment import AugmentConfig
from handpose.data.readers import FORMATS


class ConfigError(ValueError):
    """A config that cannot be run; the message names the offending key."""


@dataclass
class SourceConfig:
    """One dataset feeding a split: generated synthetic images or a public dataset on disk."""

    format: str  # "synth", or a handpose.data.readers format ("coco", "freihand", ...)
    path: str | None = None  # dataset root or annotation file (not for synth)
    split: str | None = None  # the reader's own split name, e.g. "training"
    count: int = 1000  # synth: number of images
    seed: int = 0  # synth: generator seed; train and val sources must differ
    size: int = 256  # synth: image side in pixels
    weight: float = 1.0  # training mix: share of batches drawn from this source, relative
    policy: Literal["skip", "error"] = "skip"  # what the reader does with a broken sample
    options: dict[str, Any] = field(default_factory=dict)  # format-specific read_dataset options
    holdout: float = 0.0  # training sources: share of groups kept out of training and validated on
    holdout_seed: int = 0
    backgrounds: str = "procedural"  # synth: "procedural", "photos" or "mixed" (handpose.synth.backgrounds)
    background_dirs: list[str] = field(default_factory=list)  # synth: photo folders added to the built-in pool
    scene_kind: str = "hands"  # synth: "hands" (pose), "detection" or "whole_person" (handpose.synth.scene)
    bands_at_wrist: bool = False  # synth hands scenes: wrist bands from the wrist crease down (sample_arm_wear)

    def __post_init__(self) -> None:
        if not 0 <= self.holdout < 1:
            raise ConfigError(f"holdout must lie in [0, 1), got {self.holdout}")
        if self.format == "synth":
            if self.count < 1:
                raise ConfigError(f"count: a synth source needs at least one image, got {self.count}")
            from handpose.synth.backgrounds import Backgrounds  # the generator's own checks, for synth sources only
            from handpose.synth.scene import SCENE_KINDS

            try:
                Backgrounds(self.backgrounds, tuple(self.background_dirs))  # type: ignore[arg-type]
            except ValueError as error:
                raise ConfigError(str(error)) from None
            if self.scene_kind not in SCENE_KINDS:
                raise ConfigError(f"scene_kind: {self.scene_kind!r} is not one of {', '.join(SCENE_KINDS)}")
            if not isinstance(self.bands_at_wrist, bool):
                raise ConfigError(f"bands_at_wrist: true or false, got {self.bands_at_wrist!r}")
            if self.bands_at_wrist and self.scene_kind != "hands":
                raise ConfigError(f"bands_at_wrist: an option of hands scenes, not of {self.scene_kind} scenes")
        elif self.backgrounds != "procedural" or self.background_dirs:
            raise ConfigError(f"backgrounds: only synth sources have generated backgrounds, not {self.format}")
        elif self.scene_kind != "hands" or self.bands_at_wrist:
            raise ConfigError(f"scene_kind, bands_at_wrist: only synth sources have generated scenes, not {self.format}")
        elif self.format not in FORMATS:
            raise ConfigError(f"format: unknown dataset format {self.format!r}; known: synth, {', '.join(FORMATS)}")
        elif self.path is None:
            raise ConfigError(f"path: a {self.format} source needs one")
        if self.weight <= 0:
            raise ConfigError(f"weight must be positive, got {self.weight}")


@dataclass
class DataConfig:
    train: list[SourceConfig]
    val: list[SourceConfig] = field(default_factory=list)  # plus the training sources' holdouts
    cache_dir: str = "runs/cache"  # where synth sources are generated once and reused
    batch_size: int = 32
    workers: int = 2  # DataLoader worker processes per training process
    samples_per_epoch: int | None = None  # training samples drawn per epoch; None: all of them once

    def __post_init__(self) -> None:
        if not self.train:
            raise ConfigError("train: at least one training source is needed")
        if not self.val and not any(source.holdout > 0 for source in self.train):
            raise ConfigError("val: no validation source and no training source with a holdout")
        for i, source in enumerate(self.val):
            if source.holdout:
                raise ConfigError(f"val.{i}.holdout: holdouts are taken from training sources")
            for train in self.train:
                if source.format == "synth" and train.format == "synth" and source.seed == train.seed:
                    raise ConfigError(
                        f"val.{i}.seed: {source.seed} is also a training synth seed; "
                        "validation images would repeat training images"
                    )
                if source.format != "synth" and (source.format, source.path, source.split) == (
                    train.format, train.path, train.split
                ):
                    raise ConfigError(
                        f"val.{i}: the same data as a training source; validate on another split, "
                        "or give the training source a holdout"
                    )


@dataclass
class CodecConfig:
    """The Gaussian heatmap targets (:class:`handpose.codecs.GaussianHeatmapCodec`)."""

    input_size: int = 128  # crop side fed to the network, pixels
    heatmap_size: int | None = None  # None: input_size / model stride (a given value must equal it)
    sigma: float = 2.0  # Gaussian std in heatmap pixels
    unit_peak: bool = False  # scale each map to a peak of exactly 1 (FreiHAND U-Net, IoU loss)
    decoder: str = "dark"  # one of handpose.codecs.DECODERS


@dataclass
class CropConfig:
    """How a hand is cropped for the network, in training, evaluation and inference alike."""

    padding: float = 1.5  # crop side / hand box side (before augmentation's scaling)
    flip_to_right: bool = True  # mirror left hands so the network only sees right hands


@dataclass
class LossConfig:
    heatmap: Literal["mse", "iou"] = "mse"
    intermediate: bool = True  # supervise every stage, not just the last


@dataclass
class OptimizerConfig:
    name: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd and rmsprop only


@dataclass
class ScheduleConfig:
    name: Literal["constant", "cosine", "step"] = "cosine"
    warmup_steps: int = 0  # linear ramp from lr/100 to lr
    milestones: list[int] = field(default_factory=list)  # step: epochs where lr is multiplied by gamma
    gamma: float = 0.1
    min_lr_ratio: float = 0.01  # cosine: final lr / initial lr


@dataclass
class EarlyStoppingConfig:
    """Stop when validation loss has not improved for ``patience`` validations."""

    enabled: bool = True
    patience: int = 5
    min_delta: float = 0.0


@dataclass
class TrainerConfig:
    """Length, hardware and logging, passed on to :class:`lightning.pytorch.Trainer`."""

    max_epochs: int = 10
    max_steps: int = -1  # -1: no step limit
    max_time: str | None = None  # "DD:HH:MM:SS"
    accelerator: str = "auto"  # cpu, gpu, auto
    devices: int | str | list[int] = "auto"  # per node
    num_nodes: int = 1
    strategy: str = "auto"  # auto, ddp, ddp_spawn, fsdp, ...
    ddp_backend: str | None = None  # process-group backend for ddp: gloo, nccl; None: Lightning's choice
    sync_batchnorm: bool = False
    precision: int | str = "32-true"  # 16-mixed, bf16-mixed on GPUs
    gradient_clip_val: float | None = None
    log_every_n_steps: int = 10
    check_val_every_n_epoch: int = 1
    limit_train_batches: int | float = 1.0
    limit_val_batches: int | float = 1.0
    deterministic: bool = False
    enable_progress_bar: bool = True


@dataclass
class ValidationConfig:
    auc_range_px: list[float] = field(default_factory=lambda: [0.0, 20.0])  # PCK thresholds, crop pixels

    def __post_init__(self) -> None:
        if len(self.auc_range_px) != 2 or not 0 <= self.auc_range_px[0] < self.auc_range_px[1]:
            raise ConfigError(f"auc_range_px must be [low, high] with 0 <= low < high, got {self.auc_range_px}")


@dataclass
class ExperimentConfig:
    name: str
    data: DataConfig
    model: dict[str, Any]  # the network: {"name": ..., **build_model kwargs}
    estimator: dict[str, Any] = field(default_factory=lambda: {"name": "heatmap_2d"})  # {"name": ..., **its options}
    codec: CodecConfig = field(default_factory=CodecConfig)
    crop: CropConfig = field(default_factory=CropConfig)
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)  # None: no augmentation
    loss: LossConfig = field(default_factory=LossConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    seed: int = 0
    output_dir: str | None = None  # None: runs/<name>
    init_from: str | None = None  # a checkpoint whose network weights start the run (fine-tuning)

    def __post_init__(self) -> None:
        if not isinstance(self.model.get("name"), str):
            raise ConfigError("model.name is required (a handpose.models.build_model name)")
        if not isinstance(self.estimator.get("name"), str):
            raise ConfigError("estimator.name is required (a handpose.estimators.ESTIMATORS name)")
        if self.augment is not None and self.augment.flip_to_right != self.crop.flip_to_right:
            raise ConfigError(
                f"augment.flip_to_right ({self.augment.flip_to_right}) must equal crop.flip_to_right "
                f"({self.crop.flip_to_right}): training and evaluation crops must agree"
            )

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir or f"runs/{self.name}")

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts and lists (YAML-, JSON- and checkpoint-safe)."""
        return dataclasses.asdict(self, dict_factory=lambda items: {k: _plain(v) for k, v in items})


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """Read a YAML experiment config and apply ``key=value`` overrides to it."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config is a mapping of sections, got {type(raw).__name__}")
    raw.setdefault("name", path.stem)
    try:
        return apply_overrides(config_from_dict(raw), overrides)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def config_from_dict(raw: dict[str, Any]) -> ExperimentConfig:
    """Check a plain dict against the sections (unknown keys, types, required keys) and fill defaults."""
    return _build(ExperimentConfig, raw, "")


def apply_overrides(config: ExperimentConfig, overrides: list[str] | tuple[str, ...]) -> ExperimentConfig:
    """A new config with ``dotted.key=value`` overrides applied; the value is parsed as YAML."""
    tree = config.to_dict()
    for override in overrides:
        key, sep, text = override.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {override!r} is not of the form dotted.key=value")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(f"override {key}: value {text!r} is not valid YAML: {error}") from None
        _set_path(tree, key.split("."), value, ExperimentConfig)
    return config_from_dict(tree)


def _set_path(node: Any, parts: list[str], value: Any, annotation: Any, done: str = "") -> None:
    """Set ``parts`` inside ``node`` after checking each step against the section types."""
    head, rest = parts[0], parts[1:]
    here = f"{done}.{head}" if done else head
    annotation = _strip_optional(annotation)
    if dataclasses.is_dataclass(annotation):
        names = [f.name for f in dataclasses.fields(annotation)]
        if head not in names:
            section = done or "the top level"
            raise ConfigError(f"unknown key {here!r}: {section} has {', '.join(names)}")
        child_type = get_type_hints(annotation)[head]
    elif get_origin(annotation) is list:
        if not head.isdigit() or int(head) >= len(node):
            raise ConfigError(f"unknown key {here!r}: {done} is a list of {len(node)} item(s)")
        head, child_type = int(head), get_args(annotation)[0]  # type: ignore[assignment]
    else:  # a free-form mapping (model kwargs): any key goes
        child_type = Any
    if not rest:
        node[head] = value
        return
    if isinstance(node, dict) and node.get(head) is None:  # a section absent from the file, e.g. estimator.limbs
        node[head] = {}
    if not isinstance(node[head], (dict, list)):
        raise ConfigError(f"unknown key {'.'.join([here, *rest])!r}: {here} is a value, not a section")
    _set_path(node[head], rest, value, child_type, here)


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _build(cls: type, mapping: Any, key: str) -> Any:
    where = key or "the config"
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}: expected a mapping, got {mapping!r}")
    names = {f.name: f for f in dataclasses.fields(cls)}
    for name in mapping:
        if name not in names:
            raise ConfigError(f"unknown key {_join(key, name)!r}: {where} has {', '.join(names)}")
    hints = get_type_hints(cls)
    kwargs = {}
    for name, spec in names.items():
        if name in mapping:
            kwargs[name] = _convert(mapping[name], hints[name], _join(key, name))
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing key {_join(key, name)!r}")
    try:
        return cls(**kwargs)
    except (ConfigError, ValueError) as error:  # a section's own checks
        message = str(error)
        if not key:
            raise
        first_word = re.match(r"\w*", message).group()
        if first_word in names:  # the message starts with a key of this section
            raise ConfigError(f"{key}.{message}") from None
        raise ConfigError(f"{key}: {message}") from None


def _convert(value: Any, annotation: Any, key: str) -> Any:
    origin = get_origin(annotation)
    if annotation is Any:
        return value
    if dataclasses.is_dataclass(annotation):
        return _build(annotation, value, key)
    if origin in (Union, types.UnionType):
        options = get_args(annotation)
        if value is None and type(None) in options:
            return None
        options = tuple(option for option in options if option is not type(None))
        if len(options) == 1:  # an optional value or section: its own error says most
            return _convert(value, options[0], key)
        for option in options:
            try:
                return _convert(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: {value!r} is not a valid {_type_name(annotation)}")
    if origin is Literal:
        if value in get_args(annotation):
            return value
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(str, get_args(annotation)))}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item_type,) = get_args(annotation)
        return [_convert(v, item_type, f"{key}.{i}") for i, v in enumerate(value)]
    if origin is tuple:
        item_types = get_args(annotation)
        if not isinstance(value, (list, tuple)) or len(value) != len(item_types):
            raise ConfigError(f"{key}: expected a list of {len(item_types)} values, got {value!r}")
        return tuple(_convert(v, t, f"{key}.{i}") for i, (v, t) in enumerate(zip(value, item_types)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if annotation is bool and isinstance(value, bool):
        return value
    if annotation is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if annotation is float and not isinstance(value, bool):
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                return float(value)
            except ValueError:
                pass
    if annotation is str and isinstance(value, str):
        return value
    raise ConfigError(f"{key}: expected {_type_name(annotation)}, got {value!r}")


def _plain(value: Any) -> Any:
    """Tuples as lists, which YAML's safe dumper and torch's weights-only loader both accept."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name
