"""``handpose demo``: the toolkit's main job on its embedded default, start to finish on a CPU.

Generates a synthetic train/val/test set, trains the default model (``configs/default.yaml``)
within a time budget, evaluates it on the held-out synthetic test split and, when the real
development frames are beside the checkout, on them too; writes a report folder and prints a
summary. Every figure printed is measured in this run, except MediaPipe's, which are quoted from
the data README as the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from handpose.image_io import write_bytes_atomic

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "configs" / "default.yaml"
REAL_DEV_SET = REPO_ROOT.parent / "shared" / "data" / "real" / "uci_hand" / "annotations.json"

#: Seed of the synthetic test split; the configs train on seed 1 and validate on seed 2.
TEST_SEED = 3

#: MediaPipe Hands 0.10.21 on the real development set, as ../shared/data/README.md reports it.
MEDIAPIPE_REFERENCE = {"epe_mean": 6.0, "pck_at_0.2": 0.975, "auc_0_30": 0.794, "found": "932/944"}


@dataclass
class DemoResult:
    out_dir: Path
    checkpoint: Path
    reports: dict[str, dict]  # evaluation name -> handpose.evaluation report
    summary: str


def run_demo(
    out_dir: str | Path = "runs/demo",
    config_path: str | Path = DEFAULT_CONFIG,
    minutes: float | None = None,
    test_count: int = 300,
    real_annotations: str | Path | None = REAL_DEV_SET,
    overrides: tuple[str, ...] = (),
) -> DemoResult:
    """Train the default model and evaluate it; see the module docstring."""
    from handpose.evaluation.evaluate import evaluate_checkpoints, write_json
    from handpose.train.config import SourceConfig, load_config
    from handpose.train.run import train
    from handpose.train.sources import prepare_synth

    out_dir = Path(out_dir)
    budget = (f"trainer.max_time={_dd_hh_mm_ss(minutes * 60)}",) if minutes else ()
    config = load_config(config_path, (f"output_dir={out_dir / 'train'}", *budget, *overrides))
    test_source = SourceConfig(format="synth", count=test_count, seed=TEST_SEED, size=config.data.train[0].size)
    test_annotations = prepare_synth(test_source, config.data.cache_dir, workers=config.data.workers)

    result = train(config)
    checkpoint = result.best_checkpoint or result.last_checkpoint
    evaluations = {"synthetic_test": f"coco:{test_annotations}"}
    if real_annotations is not None and Path(real_annotations).is_file():
        evaluations["real_dev"] = f"coco:{real_annotations}"
    reports = {
        name: next(iter(evaluate_checkpoints([checkpoint], spec, out_dir / name).values()))
        for name, spec in evaluations.items()
    }
    summary = format_summary(reports, checkpoint, out_dir)
    write_bytes_atomic(out_dir / "summary.md", summary.encode("utf-8"))
    write_json(out_dir / "summary.json", _headline(reports))
    return DemoResult(out_dir=out_dir, checkpoint=checkpoint, reports=reports, summary=summary)


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


def format_summary(reports: dict[str, dict], checkpoint: Path, out_dir: Path) -> str:
    """A markdown summary: one row per evaluation, MediaPipe's quoted figures beside the real set."""
    rows = [
        "| data | pixel space | images | mean EPE (px) | PCK@0.2 | AUC 0-30 px (20 steps) |",
        "|---|---|---|---|---|---|",
    ]
    spaces = {"synthetic_test": "crop_pixels", "real_dev": "image_pixels"}
    for name, figures in _headline(reports).items():
        space = spaces.get(name, "crop_pixels")
        f = figures[space]
        label = "256x256 crop" if space == "crop_pixels" else "original image"
        rows.append(
            f"| {name} | {label} | {f['num_images']} | {f['epe_mean']:.2f} | {f['pck_at_0.2']:.3f} | {f['auc_0_30']:.3f} |"
        )
    if "real_dev" in reports:
        m = MEDIAPIPE_REFERENCE
        rows.append(
            f"| real_dev, MediaPipe Hands (quoted from the data README; whole images, found {m['found']}) "
            f"| original image | 944 | {m['epe_mean']:.1f} | {m['pck_at_0.2']:.3f} | {m['auc_0_30']:.3f} |"
        )
    return "\n".join(
        [
            "# handpose demo",
            "",
            f"Model: `{checkpoint}` (top-down on the annotated hand boxes).",
            "",
            *rows,
            "",
            f"Report folder `{out_dir}`: per evaluation `metrics.json`, `predictions.json`, "
            "`overlays.png`, `pck_crop_px.png`, `pck_image_px.png`; loss curves in `train/loss_curves.png`.",
        ]
    )
