"""The samples behind a config's data sources: synthetic sets generated once into a cache folder,
public datasets read from disk, and held-out parts split off training sources."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_warn

from handpose.data.readers import read_dataset
from handpose.data.splits import split_samples
from handpose.structures import HandSample, SampleError
from handpose.synth.cache import complete_annotation, prepare_synth_set, synth_set_folder
from handpose.train.config import DataConfig, SourceConfig

SYNTH_FORMAT = "synth"


@dataclass
class SourceSamples:
    source: SourceConfig
    samples: list[HandSample]


def synth_folder(source: SourceConfig, cache_dir: str | Path) -> Path:
    """The cache folder of a synthetic source (:func:`handpose.synth.cache.synth_set_folder`)."""
    return synth_set_folder(
        source.count, source.seed, source.size, cache_dir, source.backgrounds, source.background_dirs, source.scene_kind,
        source.bands_at_wrist,
    )


def prepare_synth(source: SourceConfig, cache_dir: str | Path, workers: int = 1) -> Path:
    """Generate a synthetic source unless its cache folder is complete; return its annotation file."""
    return prepare_synth_set(
        source.count, source.seed, source.size, cache_dir, workers, source.backgrounds, source.background_dirs,
        source.scene_kind, source.bands_at_wrist,
    )


def read_source(source: SourceConfig, cache_dir: str | Path) -> list[HandSample]:
    """All usable samples of one source (a synthetic one must have been prepared)."""
    if source.format == SYNTH_FORMAT:
        folder = synth_folder(source, cache_dir)
        annotation = complete_annotation(folder)
        if annotation is None:
            raise FileNotFoundError(f"synthetic source not generated yet: {folder}")
        path, fmt, split = annotation, "coco", None
    else:
        path, fmt, split = Path(source.path), source.format, source.split  # type: ignore[arg-type]
    result = read_dataset(fmt, path, split, source.policy, **source.options)
    name = f"{source.format}:{path}" + (f" ({split})" if split else "")
    if result.skipped:
        sample_id, reason = result.skipped[0]
        rank_zero_warn(f"{name}: skipped {len(result.skipped)} unusable sample(s), e.g. {sample_id}: {reason}")
    if not result.samples:
        raise SampleError(f"{name}: no usable samples")
    return result.samples


def resolve_sources(data: DataConfig) -> tuple[list[SourceSamples], list[SourceSamples]]:
    """Training and validation samples per source; a training source's holdout joins validation."""
    train, val = [], []
    for source in data.train:
        samples = read_source(source, data.cache_dir)
        if source.holdout > 0:
            parts = split_samples(samples, {"train": 1 - source.holdout, "val": source.holdout}, seed=source.holdout_seed)
            samples = parts["train"]
            val.append(SourceSamples(source, parts["val"]))
        train.append(SourceSamples(source, samples))
    val.extend(SourceSamples(source, read_source(source, data.cache_dir)) for source in data.val)
    return train, val
