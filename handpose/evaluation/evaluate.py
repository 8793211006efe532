"""Evaluate models on an annotated dataset and write what a comparison needs.

Each model is a weights file, a bundled weights name or a training checkpoint, run top-down on
the annotated boxes
(:mod:`handpose.evaluation.topdown`), or a COCO results file of predictions made elsewhere (e.g.
MediaPipe on the same images, :mod:`handpose.evaluation.predictions_io`); both are scored alike,
and a hand without a prediction counts as a miss.

Errors are reported in two pixel spaces, each named in ``metrics.json``:

- ``image_pixels``: pixels of the original images (EPE on a 256x256 frame is in these);
- ``crop_pixels``: pixels of a ``norm_size`` x ``norm_size`` crop around each hand, the square of
  :data:`NORM_PADDING` times the longer side of the annotated hand box (errors times norm_size /
  that side). The crop does not depend on the model, so every model is normalised alike; it is
  what "AUC on 256x256 crops" means.

Files: for one model, ``metrics.json``, ``predictions.json`` (COCO results), ``overlays.png``
(prediction beside ground truth) and ``pck_image_px.png`` / ``pck_crop_px.png`` in ``out_dir``.
For several, those of each model go to ``out_dir/<name>/``, while ``out_dir`` holds the PCK
PNGs with every model's curve and ``comparison.md``, the table of both pixel spaces.
"""

from __future__ import annotations

import inspect
import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from handpose.data.spec import DataSpec, parse_data_spec
from handpose.evaluation.eval_3d import evaluate_3d_where_labelled
from handpose.evaluation.predictions_io import coco_results, match_results, read_coco_results, write_coco_results
from handpose.evaluation.topdown import predict_topdown
from handpose.evaluation.whole_image import predict_whole_images
from handpose.geometry.crop import box_around
from handpose.image_io import write_bytes_atomic
from handpose.inference.predictor import FINDERS as PREDICTOR_FINDERS
from handpose.inference.predictor import Predictor
from handpose.metrics import evaluate_2d, format_report_table
from handpose.structures import VISIBLE, HandSample, SampleError
from handpose.viz.contact_sheet import contact_sheet, write_contact_sheet
from handpose.viz.curves import plot_pck_curves

#: Where the hands come from: the annotated boxes, or the Predictor's own finders on whole images.
FINDERS = ("boxes", *PREDICTOR_FINDERS)

#: The Predictor options that apply to the annotated boxes as well as to whole images.
BOX_OPTIONS = ("upright",)

#: Skipped samples whose reasons a report lists (all are counted).
MAX_SKIP_REASONS = 20

#: The normalising crop is this many times the longer side of the annotated hand box.
NORM_PADDING = 1.5

#: The two pixel spaces of a report: key in metrics.json and title in tables and plots.
PIXEL_SPACES = {"image_pixels": "original image pixels", "crop_pixels": "pixels of a {n}x{n} crop around the hand"}

#: File name of each PCK plot, by pixel space.
PCK_PLOTS = {"image_pixels": "pck_image_px.png", "crop_pixels": "pck_crop_px.png"}


def evaluate_checkpoints(
    checkpoints: Sequence[str | Path],
    data_spec: str | DataSpec,
    out_dir: str | Path,
    batch_size: int = 32,
    limit: int | None = None,
    norm_size: int = 256,
    overlay_count: int = 16,
    device: str | torch.device = "cpu",
    progress: bool = True,
    finder: str = "boxes",
    detector: str | Path | None = None,
    predictor_options: dict | None = None,
    backend: str = "torch",
) -> dict[str, dict]:
    """Evaluate each model (or COCO results ``.json`` file) on the dataset of ``data_spec``.

    Writes the files listed in the module docstring and returns ``{name: report}`` in the order
    given; a report is what ``metrics.json`` holds. ``limit`` keeps the first samples only.
    ``finder`` is "boxes" (top-down on the annotated boxes) or one of the Predictor's finders on
    whole images (:mod:`handpose.evaluation.whole_image`; "auto" is ``handpose predict``'s
    default), ``detector`` the weights that finder uses instead of the bundled ones,
    ``predictor_options`` the Predictor's test-time options where they differ from its defaults
    (refine_passes, tta_* on whole images only; upright, :data:`BOX_OPTIONS`, on boxes too), ``backend`` what runs the networks ("torch",
    or "onnx": exported and run by onnxruntime, as deployed).
    """
    if finder not in FINDERS:
        raise ValueError(f"unknown finder {finder!r}; choose one of {', '.join(FINDERS)}")
    predictor_options = _non_default_options(predictor_options)
    whole_image_only = [name for name in predictor_options if name not in BOX_OPTIONS]
    if whole_image_only and finder == "boxes":
        raise ValueError(
            f"the Predictor's options ({', '.join(whole_image_only)}) apply to whole images: choose a finder other than boxes"
        )
    if not checkpoints:
        raise ValueError("no checkpoints to evaluate")
    spec = parse_data_spec(data_spec) if isinstance(data_spec, str) else data_spec
    read = spec.read()
    samples = read.samples[:limit] if limit is not None else read.samples
    if not samples:
        raise ValueError(f"{spec}: no samples to evaluate ({len(read.skipped)} skipped as unusable)")
    out_dir = Path(out_dir)
    names = model_names(checkpoints)
    reports = {}
    for name, checkpoint in zip(names, checkpoints):
        keypoints, scores, protocol = predict_source(
            Path(checkpoint), samples, batch_size, device, progress, finder, detector, predictor_options, backend
        )
        report = {
            "name": name,
            "source": str(checkpoint),
            "data": str(spec),
            "num_samples": len(samples),
            "skipped_samples": len(read.skipped),
            "skipped_reasons": [f"{sample_id}: {reason}" for sample_id, reason in read.skipped[:MAX_SKIP_REASONS]],
            "protocol": protocol,
            **score_predictions(samples, keypoints, norm_size),
        }
        folder = out_dir / name if len(checkpoints) > 1 else out_dir
        write_json(folder / "metrics.json", report)
        write_coco_results(folder / "predictions.json", coco_results(samples, keypoints, scores))
        write_overlays(folder / "overlays.png", samples, keypoints, overlay_count)
        reports[name] = report
    for space, file_name in PCK_PLOTS.items():
        curves = {name: _pck_curve(report[space]) for name, report in reports.items()}
        title = f"PCK on {'/'.join(spec.path.parts[-2:])}, {_space_title(space, norm_size)}"
        plot_pck_curves(curves, out_dir / file_name, title=title)
    if len(checkpoints) > 1:
        write_bytes_atomic(out_dir / "comparison.md", (comparison_tables(reports) + "\n").encode("utf-8"))
    return reports


def predict_source(
    source: Path,
    samples: Sequence[HandSample],
    batch_size: int,
    device: str | torch.device,
    progress: bool,
    finder: str = "boxes",
    detector: str | Path | None = None,
    predictor_options: dict | None = None,
    backend: str = "torch",
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Keypoints (N, 21, 2), scores (N, 21) and how they were obtained, from an estimator run
    top-down (weights file, bundled name or checkpoint) on ``backend`` or from a COCO results file
    (``.json``); ``predictor_options`` go to the Predictor of a whole-image ``finder``, and
    ``upright`` among them to the top-down pass on the boxes."""
    if source.suffix == ".json":
        keypoints, scores = match_results(read_coco_results(source), samples)
        matched = int(np.isfinite(keypoints).all(axis=-1).any(axis=-1).sum())
        return keypoints, scores, {"kind": "COCO results file", "hands_matched": matched}
    from handpose.inference.predictor import load_for_backend

    estimator = load_for_backend(source, device, backend)  # a missing or unreadable file raises WeightsError naming it
    start = time.perf_counter()
    if finder != "boxes":
        keypoints, scores, figures = predict_whole_images(
            estimator, samples, finder, detector, progress=progress, predictor_options=predictor_options
        )
        seconds = time.perf_counter() - start
        protocol = {
            "kind": f"whole images through the Predictor, finder {figures['finder']} (annotations only score)",
            "estimator": estimator.name,
            **figures,
            **({"predictor_options": _jsonable(predictor_options)} if predictor_options else {}),
            "backend": backend,
            "device": str(device),
            "seconds_per_image": seconds / figures["images"],
        }
        return keypoints, scores, protocol
    upright = bool((predictor_options or {}).get("upright", False))
    predictions = predict_topdown(estimator, samples, batch_size=batch_size, progress=progress, upright=upright)
    seconds = time.perf_counter() - start
    protocol = {
        "kind": "top-down on the annotated hand boxes",
        "estimator": estimator.name,
        "input_size": estimator.crop.input_size,
        "padding": estimator.crop.padding,
        "flip_to_right": estimator.crop.flip_to_right,
        "upright": upright,
        "backend": backend,
        "device": str(device),
        "seconds_per_image": seconds / len(samples),
    }
    report = evaluate_3d_where_labelled(predictions.hands, samples)
    if report is not None:  # a 3D estimator on a set with 3D labels: its 3D report rides along
        protocol["3d"] = {"num_hands": report["num_hands"], **report["summary"]}
    return predictions.keypoints, predictions.scores, protocol


def score_predictions(samples: Sequence[HandSample], keypoints: np.ndarray, norm_size: int = 256) -> dict:
    """Reports of :func:`handpose.metrics.evaluate_2d` in both pixel spaces, each naming its space."""
    if norm_size <= 0:
        raise ValueError(f"norm_size must be positive, got {norm_size}")
    gt = np.stack([np.asarray(s.keypoints_2d, dtype=np.float64) for s in samples])
    labelled = np.stack([s.labelled for s in samples])
    pred = np.asarray(keypoints, dtype=np.float64)
    crops = [box_around(s.box, NORM_PADDING) for s in samples]
    centres = np.array([c.center for c in crops])[:, None, :]
    zoom = (norm_size / np.array([c.size for c in crops]))[:, None, None]
    return {
        "image_pixels": {"pixel_space": PIXEL_SPACES["image_pixels"], **evaluate_2d(pred, gt, labelled)},
        "crop_pixels": {
            "pixel_space": _space_title("crop_pixels", norm_size),
            "norm_size": int(norm_size),
            "norm_crop": f"square of {NORM_PADDING:g} x the longer side of the annotated hand box, centred on it",
            **evaluate_2d((pred - centres) * zoom, (gt - centres) * zoom, labelled),
        },
    }


def _non_default_options(options: dict | None) -> dict:
    """The Predictor options that differ from its defaults (so the CLI's defaults count as none)."""
    defaults = inspect.signature(Predictor).parameters
    unknown = set(options or {}) - set(defaults)
    if unknown:
        raise ValueError(f"unknown Predictor options: {', '.join(sorted(unknown))}")

    def is_default(name: str, value: object) -> bool:
        default = defaults[name].default
        return tuple(value) == tuple(default) if isinstance(value, (list, tuple)) else value == default

    return {name: value for name, value in (options or {}).items() if not is_default(name, value)}


def _jsonable(options: dict) -> dict:
    return {name: list(value) if isinstance(value, tuple) else value for name, value in options.items()}


def subject_masks(samples: Sequence[HandSample]) -> dict[str, np.ndarray]:
    """Which samples are each subject's (the reader's ``subject`` extra), subjects in sorted order,
    then "all": design choices on the real dev frames are made on one subject and reported on the
    other, so their benchmarks score each apart."""
    names = [str(sample.extras.get("subject")) for sample in samples]
    subjects = np.array(names)
    masks = {subject: subjects == subject for subject in sorted(set(names))}
    return {**masks, "all": np.ones(len(samples), bool)}


def scores_by_subject(samples: Sequence[HandSample], keypoints: np.ndarray) -> dict[str, tuple[np.ndarray, dict]]:
    """Per subject of :func:`subject_masks` (then "all"): its mask and the image-pixel report of
    :func:`score_predictions` on its samples' ``keypoints`` (N, 21, 2)."""
    return {
        subject: (chosen, score_predictions([s for s, c in zip(samples, chosen) if c], keypoints[chosen])["image_pixels"])
        for subject, chosen in subject_masks(samples).items()
    }


def comparison_tables(reports: dict[str, dict]) -> str:
    """Markdown: one table per pixel space, one row per model."""
    norm_size = next(iter(reports.values()))["crop_pixels"]["norm_size"]
    return "\n\n".join(
        f"### Errors in {_space_title(space, norm_size)}\n\n"
        + format_report_table({name: report[space] for name, report in reports.items()})
        for space in PIXEL_SPACES
    )


def write_overlays(path: Path, samples: Sequence[HandSample], keypoints: np.ndarray, count: int) -> None:
    """A contact sheet of ``count`` samples spread over the set: prediction (with its mean error)
    beside ground truth, two tiles per sample. Captions keep their end when cut, so the label
    goes last."""
    chosen = np.unique(np.linspace(0, len(samples) - 1, min(count, len(samples))).round().astype(int))
    tiles = []
    for i in chosen:
        sample, predicted = samples[i], np.asarray(keypoints[i], dtype=np.float64)
        errors = np.linalg.norm(predicted - sample.keypoints_2d, axis=-1)[sample.labelled]
        finite = errors[np.isfinite(errors)]
        epe = f"EPE {finite.mean():.1f}px" if finite.size else "no prediction"
        tiles.append(
            replace(
                sample,
                keypoints_2d=predicted,
                visibility=np.full(len(predicted), VISIBLE, dtype=np.int8),
                sample_id=f"{sample.sample_id} | predicted, {epe}",
            )
        )
        tiles.append(replace(sample, sample_id=f"{sample.sample_id} | ground truth"))
    try:
        sheet, _ = contact_sheet(tiles, tile_size=192, columns=min(8, len(tiles)), skip_unreadable=True)
    except SampleError as error:  # scoring a results file needs no images; drawing does
        warnings.warn(f"{path} not written: {error}", stacklevel=2)
        return
    write_contact_sheet(path, sheet)


def model_names(sources: Sequence[str | Path]) -> list[str]:
    """Short unique names: file stems, with parent folders added while two would be the same."""
    paths = [Path(s) for s in sources]
    depth = 1
    while True:
        names = ["/".join(p.with_suffix("").parts[-depth:]) for p in paths]
        if len(set(names)) == len(names) or depth >= max(len(p.parts) for p in paths):
            break
        depth += 1
    if len(set(names)) != len(names):
        raise ValueError(f"the same model is given twice: {[str(s) for s in sources]}")
    return [name.replace("/", "__") for name in names]


def write_json(path: Path, data: dict) -> None:
    write_bytes_atomic(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))


def _pck_curve(report: dict) -> tuple[list[float], list[float]]:
    entry = report["pck"][0]
    return entry["thresholds"], entry["values"]


def _space_title(space: str, norm_size: int) -> str:
    return PIXEL_SPACES[space].format(n=norm_size)
