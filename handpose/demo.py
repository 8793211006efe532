"""``handpose demo``: the toolkit at work on its embedded default, start to finish on a CPU.

With the bundled weights (the default), it

1. generates a fresh synthetic test split (seed 3, never trained on) and scores the weights on it
   top-down on the annotated boxes, in pixels of a 256x256 crop around each hand;
2. when the real development frames are beside the checkout (../shared/data/real/uci_hand), runs
   the Predictor on them as whole images, as ``handpose predict`` does (the annotations only
   score), and also top-down on their annotated boxes;
3. writes one real sequence as an overlay video;
4. writes a report folder (metrics, PCK curves, overlays) and a summary beside MediaPipe's figures.

``train_config`` instead trains that config first (the former 2-minute training sketch,
``handpose demo --train``) and runs the same steps on the trained checkpoint. Every figure printed
is measured in this run, except MediaPipe's, which are quoted from the data README.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from handpose.image_io import write_bytes_atomic

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "configs" / "default.yaml"
REAL_DEV_SET = REPO_ROOT.parent / "shared" / "data" / "real" / "uci_hand" / "annotations.json"

#: Seed of the synthetic test split; the configs train on seeds 1 and 4 and validate on seed 2.
TEST_SEED = 3

#: MediaPipe Hands 0.10.21 on the real development set, as ../shared/data/README.md reports it.
MEDIAPIPE_REFERENCE = {"epe_mean": 6.0, "pck_at_0.2": 0.975, "auc_0_30": 0.794, "found": "932/944"}

#: Each evaluation of the demo: (data, finder, pixel space of its headline figures).
EVALUATIONS = {
    "synthetic_test": ("synthetic", "boxes", "crop_pixels"),
    "real_dev_whole_image": ("real", "whole_image", "image_pixels"),
    "real_dev_boxes": ("real", "boxes", "image_pixels"),
}


@dataclass
class DemoResult:
    out_dir: Path
    model: Path | str  # the weights evaluated: a bundled name, a weights file or a checkpoint
    reports: dict[str, dict]  # evaluation name -> handpose.evaluation report
    summary: str
    video: Path | None  # the overlay video of one real sequence, when the real frames are there


def run_demo(
    out_dir: str | Path = "runs/demo",
    weights: str | Path = "default",
    train_config: str | Path | None = None,
    minutes: float | None = None,
    test_count: int = 300,
    real_annotations: str | Path | None = REAL_DEV_SET,
    overrides: tuple[str, ...] = (),
    cache_dir: str | Path = "runs/cache",
) -> DemoResult:
    """Evaluate ``weights`` (or a model trained from ``train_config``); see the module docstring."""
    from handpose.evaluation.evaluate import evaluate_checkpoints, write_json
    from handpose.synth.cache import prepare_synth_set

    out_dir = Path(out_dir)
    model: Path | str = weights
    if train_config is not None:
        model = _train(train_config, out_dir, minutes, overrides)
    test_annotations = prepare_synth_set(test_count, TEST_SEED, 256, cache_dir)
    data = {"synthetic": f"coco:{test_annotations}"}
    real = Path(real_annotations) if real_annotations is not None else None
    if real is not None and real.is_file():
        data["real"] = f"coco:{real}"
    reports: dict[str, dict] = {}
    for name, (source, finder, _) in EVALUATIONS.items():
        if source in data:
            backend = "torch" if finder == "boxes" else whole_image_backend()
            evaluated = evaluate_checkpoints([model], data[source], out_dir / name, finder=finder, backend=backend)
            reports[name] = next(iter(evaluated.values()))
    video = _sequence_video(model, real, out_dir) if "real" in data else None
    summary = format_summary(reports, model, out_dir, video)
    write_bytes_atomic(out_dir / "summary.md", summary.encode("utf-8"))
    write_json(out_dir / "summary.json", _headline(reports))
    return DemoResult(out_dir=out_dir, model=model, reports=reports, summary=summary, video=video)


def whole_image_backend() -> str:
    """Where the demo runs its whole images: onnxruntime where it is installed (``make demo``
    installs it), as deployed, else torch (annotated boxes always run on torch). onnxruntime gives
    the same figures as torch (real dev: AUC 0.651, EPE 12.61 px on both) in half the time per
    image with the Predictor's three views (69 against 139 ms on 2 cores; docs/results.md, "Three
    views by default"). The command line makes OpenMP's threads sleep where it is onnxruntime
    (:func:`handpose.cli.main.passive_threads`)."""
    from importlib.util import find_spec

    return "onnx" if find_spec("onnxruntime") is not None else "torch"


def _train(config_path: str | Path, out_dir: Path, minutes: float | None, overrides: tuple[str, ...]) -> Path:
    """Train ``config_path`` into ``out_dir/train``; its best (else last) checkpoint."""
    from handpose.train.config import load_config
    from handpose.train.run import train

    budget = (f"trainer.max_time={_dd_hh_mm_ss(minutes * 60)}",) if minutes else ()
    config = load_config(config_path, (f"output_dir={out_dir / 'train'}", *budget, *overrides))
    result = train(config)
    return result.best_checkpoint or result.last_checkpoint


def _sequence_video(model: Path | str, annotations: Path, out_dir: Path) -> Path:
    """The first real sequence, frames in time order, predicted on whole images and drawn."""
    from handpose.inference.predictor import Predictor
    from handpose.inference.sources import load_image
    from handpose.viz.prediction_overlay import OverlayVideoWriter, draw_predictions

    coco = json.loads(annotations.read_text())
    sequence = coco["images"][0].get("sequence")
    frames = sorted(
        (image for image in coco["images"] if image.get("sequence") == sequence),
        key=lambda image: image.get("frame_index", 0),
    )
    predictor = Predictor(model)
    path = out_dir / f"real_sequence_{sequence}.mp4"
    first = load_image(annotations.parent / frames[0]["file_name"])
    with OverlayVideoWriter(path, fps=10.0, size=(first.shape[1], first.shape[0])) as video:
        for frame in frames:
            image = load_image(annotations.parent / frame["file_name"])
            video.write(draw_predictions(image, predictor(image)))
    return path


def _dd_hh_mm_ss(seconds: float) -> str:
    """Lightning's max_time format."""
    s = int(round(seconds))
    return f"{s // 86400:02d}:{s % 86400 // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _headline(reports: dict[str, dict]) -> dict[str, dict]:
    """The figures of the summary table, per evaluation and pixel space."""
    return {
        name: {
            space: {
                "epe_mean": report[space]["epe_mean"],
                "pck_at_0.2": report[space]["pck_at_alpha"]["value"],
                "auc_0_30": report[space]["pck"][0]["auc"],
                "missing_images": report[space]["missing_images"],
                "num_images": report[space]["num_images"],
            }
            for space in ("crop_pixels", "image_pixels")
        }
        for name, report in reports.items()
    }


def format_summary(reports: dict[str, dict], model: Path | str, out_dir: Path, video: Path | None) -> str:
    """A markdown summary: one row per evaluation, MediaPipe's quoted figures beside the real set."""
    rows = [
        "| data | hands from | pixel space | images | mean EPE (px) | PCK@0.2 | AUC 0-30 px (20 steps) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, figures in _headline(reports).items():
        _, finder, space = EVALUATIONS[name]
        f = figures[space]
        label = "256x256 crop" if space == "crop_pixels" else "original image"
        hands = "whole image (Predictor)" if finder == "whole_image" else "annotated boxes"
        rows.append(
            f"| {name} | {hands} | {label} | {f['num_images']} | {f['epe_mean']:.2f} | {f['pck_at_0.2']:.3f} | {f['auc_0_30']:.3f} |"
        )
    if "real_dev_whole_image" in reports:
        m = MEDIAPIPE_REFERENCE
        rows.append(
            f"| real_dev, MediaPipe Hands (quoted from the data README; found {m['found']}) "
            f"| whole image | original image | 944 | {m['epe_mean']:.1f} | {m['pck_at_0.2']:.3f} | {m['auc_0_30']:.3f} |"
        )
    lines = ["# handpose demo", "", f"Model: `{model}`.", "", *rows, ""]
    whole = reports.get("real_dev_whole_image")
    if whole is not None:
        protocol = whole["protocol"]
        agreement = protocol["hand_side_agreement"]
        lines.append(
            f"Whole images: a hand found in {protocol['hands_found']}/{protocol['images']} frames, "
            f"{1000 * protocol['seconds_per_image']:.1f} ms per image on {protocol.get('backend', 'torch')}"
            + (f"; side agrees with the annotation's hand_type in {100 * agreement:.1f}% of them." if agreement is not None else ".")
        )
        lines.append("")
    lines.append(
        f"Report folder `{out_dir}`: per evaluation `metrics.json`, `predictions.json`, `overlays.png`, "
        "`pck_crop_px.png`, `pck_image_px.png`" + (f"; overlay video `{video.name}`." if video is not None else ".")
    )
    return "\n".join(lines)
