"""``handpose benchmark``: the whole pipeline on whole images, accuracy and latency, beside MediaPipe.

What a user gets from ``handpose predict`` is measured as they would run it: each annotated image
goes whole through the :class:`~handpose.inference.predictor.Predictor` (its finder, as
``handpose predict`` would use it), once per network backend (torch, onnxruntime), and, where
its side environment is there (:mod:`handpose.evaluation.mediapipe_side`), through MediaPipe
Hands on the same images in the same run. The annotations only score.

Accuracy is scored as ``handpose eval --finder ...`` scores whole images: each annotated hand takes
the nearest found hand of its image (:func:`~handpose.evaluation.whole_image.match_hands`), a hand
without one is a miss, and the errors go through
:func:`~handpose.evaluation.evaluate.score_predictions` (EPE, PCK@0.2 normalised by the
keypoints' box, AUC of the PCK curve over 0-30 px, in both of eval's pixel spaces; the table shows
original image pixels, the space of MediaPipe's reference figures). Left/right accuracy is the
share of found hands whose side as it appears in the image is the annotated one.

Latency is per image, the finding and estimation call alone (the image already decoded), over
the first ``latency_images`` images after :data:`WARMUP_CALLS` untimed calls, at each thread
setting: torch's intra-op threads (``torch.set_num_threads``), onnxruntime's session intra-op
threads, and for MediaPipe, which sets its own threads, the CPUs its process may use. Median and
90th percentile in ms.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from handpose.data.spec import DataSpec, parse_data_spec
from handpose.evaluation.evaluate import PIXEL_SPACES, score_predictions
from handpose.evaluation.mediapipe_runner import MAX_NUM_HANDS, MODEL_COMPLEXITY
from handpose.evaluation.mediapipe_side import SideEnvironment, run_mediapipe
from handpose.evaluation.whole_image import collect_matches, image_groups
from handpose.inference.predictor import BACKENDS, Predictor
from handpose.metrics import PCK_RANGE_2D_PX
from handpose.structures import HandPrediction, HandSample

#: Untimed calls on the first image before latency is timed (lazy initialisation, caches).
WARMUP_CALLS = 3

#: The thread setting that stands for every CPU this process may use.
ALL_THREADS = "all"

#: The pixel space of the table (the report holds both of eval's).
TABLE_SPACE = "image_pixels"

#: A function finding the hands in one decoded RGB image.
Finder = Callable[[np.ndarray], list[HandPrediction]]


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity where the OS says, else the CPU count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def thread_count(setting: str) -> int:
    """The number of threads a setting ("all" or a positive integer) stands for."""
    if setting == ALL_THREADS:
        return available_cpus()
    if not setting.isdigit() or int(setting) < 1:
        raise ValueError(f"a thread setting is a positive integer or {ALL_THREADS!r}, got {setting!r}")
    return int(setting)


def check_settings(
    weights: str | Path, backends: Sequence[str], threads: Sequence[str], limit: int | None, latency_images: int
) -> dict[str, int]:
    """The thread count of each setting, after checking that the settings make a benchmark; a
    ValueError says which does not (before anything is loaded or run)."""
    if not backends or any(backend not in BACKENDS for backend in backends):
        raise ValueError(f"backends must be some of {', '.join(BACKENDS)}, got {', '.join(backends) or 'none'}")
    if str(weights).endswith(".onnx") and "torch" in backends:
        raise ValueError(f"{weights}: an ONNX file runs on the onnx backend only (backends onnx)")
    if not threads:
        raise ValueError("no thread settings to measure latency at")
    if limit is not None and limit < 1:
        raise ValueError(f"the image limit must be at least 1, got {limit}")
    if latency_images < 1:
        raise ValueError(f"the latency images must be at least 1, got {latency_images}")
    return {setting: thread_count(setting) for setting in threads}


def run_benchmark(
    data_spec: str | DataSpec,
    weights: str | Path = "default",
    *,
    finder: str = "auto",
    detector: str | Path | None = None,
    backends: Sequence[str] = BACKENDS,
    threads: Sequence[str] = ("1", ALL_THREADS),
    limit: int | None = None,
    latency_images: int = 100,
    mediapipe: SideEnvironment | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Benchmark the Predictor on each backend, and MediaPipe where ``mediapipe`` is given, on the
    first ``limit`` images of ``data_spec`` (all when None); see the module docstring.

    ``weights``, ``finder`` and ``detector`` are the Predictor's (``handpose predict``'s options);
    ``threads``: the settings latency is measured at ("1", "all", ...). Returns the report that
    ``benchmark.json`` holds: the data and settings, and ``systems``: per system (e.g.
    "handpose torch", "MediaPipe Hands 0.10.21") its ``accuracy`` (:func:`score_found_hands`) and
    ``latency`` by thread setting (threads, images, median_ms, p90_ms).
    """
    counts = check_settings(weights, backends, threads, limit, latency_images)
    spec = parse_data_spec(data_spec) if isinstance(data_spec, str) else data_spec
    read = spec.read()
    groups = image_groups(read.samples)[:limit]
    if not groups:
        raise ValueError(f"{spec}: no images to benchmark ({len(read.skipped)} samples skipped as unusable)")
    samples = [read.samples[i] for group in groups for i in group]
    groups = image_groups(samples)
    timed = [samples[group[0]].load_image() for group in groups[:latency_images]]

    systems: dict[str, dict] = {}
    resolved_finder = None
    for backend in backends:
        with _estimators(weights, backend) as estimator_at:

            def predictor_at(count: int) -> Predictor:
                return Predictor(estimator=estimator_at(count), finder=finder, detector=detector)

            widest = max(counts.values())
            with _torch_threads(widest):
                predictor = predictor_at(widest)
                resolved_finder = predictor.finder
                found = [
                    predictor(samples[group[0]].load_image())
                    for group in tqdm(groups, desc=f"handpose {backend}", unit="image", disable=not progress)
                ]
            latency = {}
            for setting, count in counts.items():
                with _torch_threads(count):
                    latency[setting] = _latency_figures(count, _time_calls(predictor_at(count), timed))
        systems[f"handpose {backend}"] = {"accuracy": score_found_hands(samples, groups, found), "latency": latency}
    if mediapipe is not None:
        systems[f"MediaPipe Hands {mediapipe.version}"] = _mediapipe_system(
            samples, groups, counts, len(timed), mediapipe
        )
    return {
        "data": str(spec),
        "images": len(groups),
        "hands": len(samples),
        "skipped_samples": len(read.skipped),
        "weights": str(weights),
        "finder": resolved_finder,
        "detector": None if detector is None else str(detector),
        "pixel_space": PIXEL_SPACES[TABLE_SPACE],
        "auc_range_px": list(PCK_RANGE_2D_PX),
        "cpus": available_cpus(),
        "threads": counts,
        "latency_images": len(timed),
        "warmup_calls": WARMUP_CALLS,
        "mediapipe": None
        if mediapipe is None
        else {
            "version": mediapipe.version,
            "python": str(mediapipe.python),
            "mode": "static",
            "model_complexity": MODEL_COMPLEXITY,
            "max_num_hands": MAX_NUM_HANDS,
        },
        "systems": systems,
    }


def score_found_hands(
    samples: Sequence[HandSample], groups: Sequence[list[int]], found: Sequence[list[HandPrediction]]
) -> dict[str, Any]:
    """Accuracy of the hands ``found`` in each image (one list per group of ``samples`` indices, an
    image's annotated hands): annotated hands matched as whole-image evaluation matches them.

    Keys: found and of (annotated hands matched, and all), unmatched_per_image (found hands no
    annotated hand took), side_accuracy and side_checked (matched hands whose side is known on
    both sides of the comparison), epe_mean, pck_at_0.2 and auc_0_30 in :data:`TABLE_SPACE`, and
    scores: what ``handpose eval`` reports in both pixel spaces.
    """
    keypoints, _, figures = collect_matches(samples, groups, found)
    scores = score_predictions(samples, keypoints)
    table = scores[TABLE_SPACE]
    return {
        "found": figures["hands_found"],
        "of": len(samples),
        "unmatched_per_image": figures["unmatched_predictions_per_image"],
        "side_accuracy": figures["hand_side_agreement"],
        "side_checked": figures["side_checked"],
        "epe_mean": table["epe_mean"],
        "pck_at_0.2": table["pck_at_alpha"]["value"],
        "auc_0_30": table["pck"][0]["auc"],
        "scores": scores,
    }


def format_benchmark_table(report: dict[str, Any]) -> str:
    """Markdown: a line saying what was measured, then one row per system."""
    settings = list(report["threads"])
    header = ["system", "found/of", "EPE (px)", "PCK@0.2", "AUC 0-30 px", "left/right"]
    header += [f"{figure} ms @{setting}" for setting in settings for figure in ("median", "p90")]
    rows = []
    for name, system in report["systems"].items():
        a = system["accuracy"]
        row = [name, f"{a['found']}/{a['of']}", _number(a["epe_mean"], 2), _number(a["pck_at_0.2"], 3)]
        row += [_number(a["auc_0_30"], 3), _number(a["side_accuracy"], 3)]
        for setting in settings:
            figures = system["latency"][setting]
            row += [_number(figures["median_ms"], 1), _number(figures["p90_ms"], 1)]
        rows.append(row)
    threads = ", ".join(
        f"@{setting} = {count} thread{'s' * (count > 1)}" for setting, count in report["threads"].items()
    )
    caption = (
        f"{report['data']}: {report['images']} whole images, {report['hands']} annotated hands; errors in "
        f"{report['pixel_space']}; latency per image over the first {report['latency_images']} images "
        f"({threads}, of {report['cpus']} CPUs; MediaPipe: CPUs its process may use)."
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return caption + "\n\n" + "\n".join(lines)


def _mediapipe_system(
    samples: Sequence[HandSample],
    groups: Sequence[list[int]],
    counts: dict[str, int],
    latency_images: int,
    environment: SideEnvironment,
) -> dict[str, Any]:
    """MediaPipe's accuracy (static images) and latency at each thread setting (as CPUs)."""
    paths = [samples[group[0]].image for group in groups]
    if not all(isinstance(path, Path) for path in paths):
        raise ValueError("MediaPipe reads image files: this dataset's images are in memory")
    found = run_mediapipe(paths, environment=environment, warmup=WARMUP_CALLS)
    latency = {}
    for setting, count in counts.items():
        cpus = None if setting == ALL_THREADS else count
        timed = run_mediapipe(paths[:latency_images], environment=environment, warmup=WARMUP_CALLS, cpus=cpus)
        latency[setting] = _latency_figures(count, [image.ms for image in timed])
    return {"accuracy": score_found_hands(samples, groups, [image.hands for image in found]), "latency": latency}


@contextmanager
def _estimators(weights: str | Path, backend: str) -> Iterator[Callable[[int], Any]]:
    """A function giving the estimator of ``weights`` on ``backend`` for a number of threads: the
    torch estimator (threads are torch's global setting), or an onnxruntime session with that many
    intra-op threads over the weights exported once."""
    from handpose.inference.onnx_backend import export_onnx, load_onnx_estimator
    from handpose.inference.weights import load_estimator

    if str(weights).endswith(".onnx"):
        yield lambda threads: load_onnx_estimator(weights, threads=threads)
        return
    estimator = load_estimator(weights)
    if backend == "torch":
        yield lambda threads: estimator
        return
    with tempfile.TemporaryDirectory(prefix="handpose-benchmark-") as folder:
        path = export_onnx(estimator, Path(folder) / "estimator.onnx")
        yield lambda threads: load_onnx_estimator(path, threads=threads)


@contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op threads set to ``count`` for the block, restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _time_calls(find: Finder, images: Sequence[np.ndarray]) -> list[float]:
    """Milliseconds of ``find`` on each image, after :data:`WARMUP_CALLS` untimed calls on the first."""
    for _ in range(WARMUP_CALLS):
        find(images[0])
    times = []
    for image in images:
        start = time.perf_counter()
        find(image)
        times.append(1000.0 * (time.perf_counter() - start))
    return times


def _latency_figures(threads: int, ms: Sequence[float]) -> dict[str, Any]:
    return {
        "threads": threads,
        "images": len(ms),
        "median_ms": float(np.median(ms)),
        "p90_ms": float(np.percentile(ms, 90)),
    }


def _number(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
