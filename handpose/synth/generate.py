"""Generating a synthetic dataset on disk, in parallel, with output independent of the worker count.

Scene ``i`` depends only on (seed, i) (:func:`handpose.synth.scene.scene_rng`), workers only
render and write image files, and the annotation file is assembled by the parent in index order
and written last, atomically. Images are written atomically too, so an interrupted run leaves no
half-written file and no annotation file (the previous one is removed before any image is
rewritten); running again rewrites everything cleanly.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
from tqdm import tqdm

from handpose.synth.backgrounds import BackgroundKind, Backgrounds
from handpose.synth.scene import MAX_HANDS, SCENE_KINDS, SceneKind, render_detection_scene, render_scene
from handpose.synth.whole_person import render_whole_person_scene
from handpose.synth.writers import CocoWriter, RhdWriter, make_writer


class _SampleJob:
    """Everything a process needs to render and write samples by index."""

    def __init__(
        self, out_dir: Path, size: int, seed: int, format: str, split: str, backgrounds: Backgrounds,
        scene_kind: SceneKind, bands_at_wrist: bool,
    ) -> None:
        self.writer: RhdWriter | CocoWriter = make_writer(format, out_dir, split, MAX_HANDS[scene_kind], scene_kind)
        self.backgrounds = backgrounds
        self.scene_kind = scene_kind
        self.bands_at_wrist = bands_at_wrist
        self.size = size
        self.seed = seed

    def __call__(self, index: int) -> dict[str, Any]:
        if self.scene_kind == "hands":
            scene = render_scene(self.seed, index, self.size, self.backgrounds, self.bands_at_wrist)
        else:
            render = {"detection": render_detection_scene, "whole_person": render_whole_person_scene}
            scene = render[self.scene_kind](self.seed, index, self.size, self.backgrounds)
        return self.writer.write_sample(index, scene)


_job: _SampleJob | None = None  # the job of a worker process


def _init_worker(*args: Any) -> None:
    global _job
    cv2.setNumThreads(1)  # one core per worker
    _job = _SampleJob(*args)


def _run_in_worker(index: int) -> dict[str, Any]:
    assert _job is not None, "worker not initialised"
    return _job(index)


def generate_dataset(
    out_dir: str | Path,
    count: int,
    size: int = 256,
    seed: int = 0,
    format: str = "coco",
    workers: int = 1,
    split: str = "train",
    progress: bool = True,
    backgrounds: BackgroundKind = "procedural",
    background_dirs: Sequence[str | Path] = (),
    scene_kind: SceneKind = "hands",
    bands_at_wrist: bool = False,
) -> Path:
    """Render ``count`` scenes into ``out_dir`` as a ``format`` ("coco" or "rhd") dataset.

    The same seed gives byte-identical files whatever ``workers`` is. ``backgrounds`` is
    "procedural" (painted rooms), "photos" (real photographs) or "mixed" (half and half); photos
    come from the built-in pool plus ``background_dirs``
    (:mod:`handpose.synth.photo_backgrounds`), so they also depend on the machine's installed
    wallpapers. ``scene_kind`` is "hands" (pose estimation), "detection" (several hands, all
    scales, distractors, some images without hands: :mod:`handpose.synth.scene`; coco only) or
    "whole_person" (1-3 people with arms and mostly small hands, and a COCO-WholeBody people file
    beside the hands: :mod:`handpose.synth.whole_person`; coco only). ``bands_at_wrist`` ("hands"
    scenes only) puts wrist bands from the wrist crease down, and on more forearms
    (:func:`~handpose.synth.surface.sample_arm_wear`). Returns the annotation file's path.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if size < 32:
        raise ValueError(f"size must be at least 32 pixels, got {size}")
    if scene_kind not in SCENE_KINDS:
        raise ValueError(f"scene_kind must be one of {', '.join(SCENE_KINDS)}, got {scene_kind!r}")
    if bands_at_wrist and scene_kind != "hands":
        raise ValueError(f"bands_at_wrist is an option of hands scenes, not of {scene_kind} scenes")
    out_dir = Path(out_dir)
    chosen = Backgrounds(backgrounds, tuple(Path(folder) for folder in background_dirs))
    if chosen.kind != "procedural":
        chosen.photos()  # a missing or empty folder fails here, before any file is touched
    args = (out_dir, int(size), int(seed), format, split, chosen, scene_kind, bool(bands_at_wrist))
    writer = make_writer(format, out_dir, split, MAX_HANDS[scene_kind], scene_kind)
    writer.annotation_path.unlink(missing_ok=True)

    bar = tqdm(total=count, desc=f"synth {format} {split}", unit="sample", disable=not progress)
    records: list[dict[str, Any]] = []
    if workers <= 1:
        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            job = _SampleJob(*args)
            for index in range(count):
                records.append(job(index))
                bar.update()
        finally:
            cv2.setNumThreads(threads)
    else:
        context = multiprocessing.get_context("spawn")  # no inherited state (threads, torch) in workers
        chunk = max(1, min(16, count // (4 * workers)))
        with context.Pool(workers, initializer=_init_worker, initargs=args) as pool:
            for record in pool.imap(_run_in_worker, range(count), chunksize=chunk):
                records.append(record)
                bar.update()
    bar.close()
    return writer.finish(records)
