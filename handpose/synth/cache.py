"""Synthetic sets generated once into a cache folder and reused, by training, the demo and benchmarks.

A set is named by what determines its bytes: the generator version, count, seed, image size,
the scene kind unless it is the default "hands" and, for photo backgrounds, their kind and the
photo pool's fingerprint (the pool depends on the folders named and on the machine's installed
wallpapers), and "-wristbands" for wrist bands at the wrist; default sets keep the plain name.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from handpose.image_io import write_bytes_atomic

#: Written into a synthetic set's folder once it is fully generated; names its annotation file.
COMPLETE_MARKER = "complete.json"


def synth_set_folder(
    count: int,
    seed: int,
    size: int,
    cache_dir: str | Path,
    backgrounds: str = "procedural",
    background_dirs: Sequence[str] = (),
    scene_kind: str = "hands",
    bands_at_wrist: bool = False,
) -> Path:
    """The cache folder of one synthetic set (see the module docstring)."""
    from handpose.synth import GENERATOR_VERSION
    from handpose.synth.backgrounds import Backgrounds

    name = f"synth-v{GENERATOR_VERSION}-n{count}-seed{seed}-{size}px"
    if scene_kind != "hands":
        name += f"-{scene_kind}"
    if backgrounds != "procedural":
        pool = Backgrounds(backgrounds, tuple(background_dirs)).photos()  # type: ignore[arg-type]
        name += f"-{backgrounds}-{pool.fingerprint()}"
    if bands_at_wrist:
        name += "-wristbands"
    return Path(cache_dir) / name


def complete_annotation(folder: Path) -> Path | None:
    """The annotation file of a fully generated set in ``folder``; None if it is not complete."""
    marker = folder / COMPLETE_MARKER
    return folder / json.loads(marker.read_text())["annotation"] if marker.is_file() else None


def prepare_synth_set(
    count: int,
    seed: int,
    size: int,
    cache_dir: str | Path,
    workers: int = 1,
    backgrounds: str = "procedural",
    background_dirs: Sequence[str] = (),
    scene_kind: str = "hands",
    bands_at_wrist: bool = False,
) -> Path:
    """Generate a synthetic set unless its cache folder is complete; return its annotation file.

    Generation goes to a temporary folder renamed into place when done, so an interrupted run
    or a second run generating the same set at the same time never leaves a half set that
    looks complete.
    """
    from handpose.synth import generate_dataset

    folder = synth_set_folder(count, seed, size, cache_dir, backgrounds, background_dirs, scene_kind, bands_at_wrist)
    annotation = complete_annotation(folder)
    if annotation is not None:
        return annotation
    folder.parent.mkdir(parents=True, exist_ok=True)
    tqdm.write(f"generating {count} synthetic hands (seed {seed}) into {folder}")
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    staging.chmod(0o755)  # mkdtemp's 0700 would keep the shared cache from other users
    try:
        written = Path(
            generate_dataset(
                staging, count, size=size, seed=seed, workers=workers, progress=True,
                backgrounds=backgrounds, background_dirs=background_dirs, scene_kind=scene_kind,  # type: ignore[arg-type]
                bands_at_wrist=bands_at_wrist,
            )
        )
        write_bytes_atomic(staging / COMPLETE_MARKER, json.dumps({"annotation": written.name}).encode())
        if folder.exists() and complete_annotation(folder) is None:
            shutil.rmtree(folder)  # a set generated before markers, or by hand: not trusted
        try:
            os.rename(staging, folder)
        except OSError:
            if complete_annotation(folder) is None:  # not a concurrent run that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return complete_annotation(folder)  # type: ignore[return-value]
