"""The samples behind a config's data sources: synthetic sets generated once into a cache folder,
public datasets read from disk, and held-out parts split off training sources."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from handpose.image_io import write_bytes_atomic
from handpose.data.readers import read_dataset
from handpose.structures import HandSample, SampleError
from handpose.data.splits import split_samples
from handpose.train.config import DataConfig, SourceConfig

SYNTH_FORMAT = "synth"
#: Written into a synthetic set's folder once it is fully generated; names its annotation file.
COMPLETE_MARKER = "complete.json"


@dataclass
class SourceSamples:
    source: SourceConfig
    samples: list[HandSample]


def synth_folder(source: SourceConfig, cache_dir: str | Path) -> Path:
    """The cache folder of a synthetic source: one per (generator version, count, seed, size).

    Photo backgrounds add their kind and the photo pool's fingerprint (the pool depends on the
    folders named and on the machine's installed wallpapers); procedural sets keep the plain name.
    """
    from handpose.synth import GENERATOR_VERSION
    from handpose.synth.backgrounds import Backgrounds

    name = f"synth-v{GENERATOR_VERSION}-n{source.count}-seed{source.seed}-{source.size}px"
    if source.backgrounds != "procedural":
        pool = Backgrounds(source.backgrounds, tuple(source.background_dirs)).photos()  # type: ignore[arg-type]
        name += f"-{source.backgrounds}-{pool.fingerprint()}"
    return Path(cache_dir) / name


def prepare_synth(source: SourceConfig, cache_dir: str | Path, workers: int = 1) -> Path:
    """Generate a synthetic source unless its cache folder is complete; return its annotation file.

    Generation goes to a temporary folder renamed into place when done, so an interrupted run
    or a second run generating the same set at the same time never leaves a half set that
    looks complete.
    """
    from handpose.synth import generate_dataset

    folder = synth_folder(source, cache_dir)
    marker = folder / COMPLETE_MARKER
    if marker.is_file():
        return folder / json.loads(marker.read_text())["annotation"]
    folder.parent.mkdir(parents=True, exist_ok=True)
    rank_zero_info(f"generating {source.count} synthetic hands (seed {source.seed}) into {folder}")
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    staging.chmod(0o755)  # mkdtemp's 0700 would keep the shared cache from other users
    try:
        annotation = Path(
            generate_dataset(
                staging, source.count, size=source.size, seed=source.seed, workers=workers, progress=True,
                backgrounds=source.backgrounds, background_dirs=source.background_dirs,  # type: ignore[arg-type]
            )
        )
        write_bytes_atomic(staging / COMPLETE_MARKER, json.dumps({"annotation": annotation.name}).encode())
        if folder.exists() and not marker.is_file():
            shutil.rmtree(folder)  # a set generated before markers, or by hand: not trusted
        try:
            os.rename(staging, folder)
        except OSError:
            if not marker.is_file():  # not a concurrent run that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder / json.loads(marker.read_text())["annotation"]


def read_source(source: SourceConfig, cache_dir: str | Path) -> list[HandSample]:
    """All usable samples of one source (a synthetic one must have been prepared)."""
    if source.format == SYNTH_FORMAT:
        marker = synth_folder(source, cache_dir) / COMPLETE_MARKER
        if not marker.is_file():
            raise FileNotFoundError(f"synthetic source not generated yet: {marker.parent}")
        path, fmt, split = marker.parent / json.loads(marker.read_text())["annotation"], "coco", None
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
