"""Same budget, one difference: trainings that differ in one thing, scored on the same sets.

Two suites, each a list of runs that share data, seed and budget and differ in one setting:

- ``ablation``: issue 14's one-change-at-a-time table. Each run fine-tunes the bundled default
  2D weights with ``configs/ablation/finetune_base.yaml`` (3 epochs of 4,000 procedural images)
  plus one change: the generator's photo backgrounds, one augmentation against the domain gap, or
  MixStyle in the network.
  ``baseline`` changes nothing, so a row's gain over it is the change's, not more training's.
- ``backbone``: accuracy per CPU-second. Each network trains from scratch for the same wall-clock
  budget at fp32 and/or at bf16 autocast (these CPUs have AMX-BF16; depthwise convolutions do not
  gain). Its crops per second are measured first, in the same process and thread count, and the
  run's ``trainer.max_steps`` is set so that its cosine schedule ends at the budget.

Every run is scored on the synthetic test split (seed 3, 347 hands, annotated boxes, AUC 0-30 px
in the 256-px crop), on the real dev frames through ``handpose predict``'s whole-image path,
per subject (AUC 0-30 px in the 256-px frame), and on the 35 outdoor frames of
``../shared/data/real/hxp_fit3d`` on their annotated boxes (image pixels; another camera and
person, where 160-pixel crops and MixStyle lost what they gained on the webcam frames). The real
frames only score: nothing trains on them. Each run writes ``OUT/<suite>/<run>/figures.json``
when scored and is skipped when that exists, so an interrupted suite resumes; ``--runs`` picks
some, so two processes can share the suite (one torch thread each on a 2-core machine).

    .venv/bin/python benchmarks/bench_fixed_budget.py --suite ablation [--runs baseline grayscale] [--threads 1]
    .venv/bin/python benchmarks/bench_fixed_budget.py --suite backbone [--minutes 6]
    .venv/bin/python benchmarks/bench_fixed_budget.py          # the tables of the runs scored so far
    .venv/bin/python benchmarks/bench_fixed_budget.py --add-outdoor   # the same, older runs given the outdoor column
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import torch
from bench_train_precision import BATCH, crops_per_second, synthetic_batch  # this folder's sibling

from handpose.data.readers import read_dataset
from handpose.evaluation.evaluate import score_predictions, scores_by_subject, write_json
from handpose.evaluation.topdown import predict_topdown
from handpose.evaluation.whole_image import predict_whole_images
from handpose.inference.predictor import PLAIN_VIEW
from handpose.inference.weights import load_estimator
from handpose.synth.cache import prepare_synth_set
from handpose.train.build import build_estimator_from_config
from handpose.train.config import load_config

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real" / "uci_hand" / "annotations.json"
#: The 35 outdoor frames with 3D (another camera and person), scored on their annotated boxes.
OUTDOOR = ROOT.parent / "shared" / "data" / "real" / "hxp_fit3d" / "annotations.json"
ABLATION_BASE = "configs/ablation/finetune_base.yaml"

#: One change each against configs/ablation/finetune_base.yaml (issue 14's list).
ABLATIONS: dict[str, list[str]] = {
    "baseline": [],
    "baseline_seed8": ["seed=8"],  # the same, other random draws: the noise a row's difference must beat
    "baseline_seed9": ["seed=9"],  # a third draw
    "baseline_seed10": ["seed=10"],  # a fourth
    "baseline_seed11": ["seed=11"],
    "baseline_seed12": ["seed=12"],
    "photo_backgrounds": ["data.train.0.backgrounds=photos"],  # the same scenes over real photographs
    "bands_at_wrist": ["data.train.0.bands_at_wrist=true"],  # wrist bands from the wrist crease down, on more forearms
    "colour_jitter": ["augment.brightness=0.5", "augment.contrast=0.5", "augment.saturation=0.6", "augment.hue=0.08"],
    "grayscale": ["augment.grayscale_probability=0.3"],
    "fourier_mix": ["augment.fourier_mix_probability=0.5"],
    "random_erasing": ["augment.random_erasing_probability=0.5"],
    "random_convolution": ["augment.random_convolution_probability=0.5"],  # RandConv: colour and texture drawn afresh
    "random_convolution_seed8": ["augment.random_convolution_probability=0.5", "seed=8"],  # its noise
    "mix_style": ["model.mix_style=0.5"],  # MixStyle after the backbone's stride-4 and stride-8 stages
    "mix_style_seed8": ["model.mix_style=0.5", "seed=8"],  # its noise
    "mix_style_seed9": ["model.mix_style=0.5", "seed=9"],
    "mix_style_seed10": ["model.mix_style=0.5", "seed=10"],
    "mix_style_seed11": ["model.mix_style=0.5", "seed=11"],
    "mix_style_seed12": ["model.mix_style=0.5", "seed=12"],
    "mix_style_wristbands": ["model.mix_style=0.5", "data.train.0.bands_at_wrist=true"],  # the two together
    "mix_style_wristbands_seed8": ["model.mix_style=0.5", "data.train.0.bands_at_wrist=true", "seed=8"],
    "baseline_lr1e-4": ["optimizer.lr=1.0e-4"],  # a fifth of the learning rate: how far the fine-tune drifts
    "mix_style_lr1e-4": ["model.mix_style=0.5", "optimizer.lr=1.0e-4"],
    "close_crops": ["augment.scale_range=[0.65,1.1]"],  # hands that fill, even overflow, the crop
    "blur_noise": ["augment.blur_probability=0.5", "augment.blur_sigma=[0.5,2.5]", "augment.noise_std=8.0"],
    "input_160": ["codec.input_size=160"],  # finer crops and 40x40 heatmaps: 1.56x the pixels per crop
    "input_160_seed8": ["codec.input_size=160", "seed=8"],  # its noise, as baseline_seed8 is the baseline's
    "input_192": ["codec.input_size=192"],  # 48x48 heatmaps: 2.25x the pixels per crop
    "wrong_side": ["augment.wrong_side_probability=0.25"],  # left hands shown as they are, asking for no hand
    "upright": ["augment.upright_probability=0.8"],  # most crops turned so the hand stands upright
    "upright_seed8": ["augment.upright_probability=0.8", "seed=8"],  # its noise
    # Images the bundled weights never saw (they trained on seeds 1 and 4 for 24 epochs): is the
    # fine-tunes' loss on the held-out subject that of training on the same images once more?
    "fresh_images": ["data.train.0.seed=5"],
    "fresh_images_seed8": ["data.train.0.seed=5", "seed=8"],
}

#: Shared by every backbone run: the ablation's data, from scratch, no early stop.
BACKBONE_COMMON = [
    "data.train=[{format: synth, count: 4000, seed: 1, size: 256}]",
    "data.val=[{format: synth, count: 200, seed: 2, size: 256}]",
    "data.batch_size=32",
    "early_stopping.enabled=false",
    "trainer.enable_progress_bar=false",
    "seed=7",
]
#: Runs of the backbone suite: (config, extra overrides, precision). fp32 and bf16 where bf16 may
#: pay (dense convolutions); MobileNetV2 x0.5 gains nothing from bf16 (bench_train_precision.py).
BACKBONES: dict[str, tuple[str, list[str], str]] = {
    "mobilenetv2_x0.5_fp32": ("configs/default.yaml", [], "fp32"),
    "mobilenetv2_x0.5_fp32_seed8": ("configs/default.yaml", ["seed=8"], "fp32"),  # its noise
    # MixStyle from scratch: does the fine-tune's small gain on the webcam frames grow when the
    # network learns its features with it from the start?
    "mobilenetv2_x0.5_fp32_mix_style": ("configs/default.yaml", ["model.mix_style=0.5"], "fp32"),
    "mobilenetv2_x0.5_fp32_mix_style_seed8": ("configs/default.yaml", ["model.mix_style=0.5", "seed=8"], "fp32"),
    "mobilenetv2_x1.0_fp32": ("configs/default_long.yaml", ["optimizer.lr=3.0e-3", "schedule.warmup_steps=50"], "fp32"),
    "mobilenetv2_x1.0_bf16": ("configs/default_long.yaml", ["optimizer.lr=3.0e-3", "schedule.warmup_steps=50"], "bf16"),
    "cpm_x0.25_fp32": ("configs/cpm_synth.yaml", [], "fp32"),
    "cpm_x0.25_bf16": ("configs/cpm_synth.yaml", [], "bf16"),
    "cpm_x0.5_bf16": ("configs/cpm_synth.yaml", ["model.width_mult=0.5"], "bf16"),
}
PRECISIONS = {"fp32": "32-true", "bf16": "bf16-mixed"}
SUITES = ("ablation", "backbone")


def suite_runs(suite: str) -> dict[str, tuple[str, list[str], bool]]:
    """Run name -> (config, overrides, bf16) of a suite."""
    if suite == "ablation":
        return {name: (ABLATION_BASE, changes, False) for name, changes in ABLATIONS.items()}
    return {
        name: (config, [*BACKBONE_COMMON, *extra, f"trainer.precision={PRECISIONS[precision]}"], precision == "bf16")
        for name, (config, extra, precision) in BACKBONES.items()
    }


def measured_steps(config: str, overrides: list[str], bf16: bool, minutes: float) -> tuple[int, float]:
    """Optimiser steps that fill ``minutes`` at this network's measured training speed, and the speed."""
    estimator = build_estimator_from_config(load_config(ROOT / config, overrides))
    speed = crops_per_second(estimator, synthetic_batch(estimator, BATCH), bf16=bf16, steps=4)
    return max(int(minutes * 60 * speed / BATCH), 1), speed


def train(run_dir: Path, config: str, overrides: list[str], threads: int) -> float:
    """Train (``handpose train`` resumes from the run's last.ckpt); the wall-clock seconds it took."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    command = [str(ROOT / ".venv" / "bin" / "handpose"), "train", config, *overrides, f"output_dir={run_dir}"]
    start = time.perf_counter()
    with open(run_dir / "train.log", "a") as log:
        subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - start


def score(checkpoint: Path) -> dict:
    """AUC 0-30 px and mean EPE on the synthetic test split, per subject on the real dev frames, and
    on the outdoor frames (image pixels, annotated boxes, as ``handpose eval`` scores them)."""
    estimator = load_estimator(checkpoint)
    test = read_dataset("coco", prepare_synth_set(300, 3, 256, ROOT / "runs" / "cache")).samples
    synthetic = score_predictions(test, predict_topdown(estimator, test, progress=False).keypoints)["crop_pixels"]
    figures = {"synthetic_test": {"auc_0_30": synthetic["pck"][0]["auc"], "epe_mean": synthetic["epe_mean"]}}
    if REAL.is_file():
        samples = read_dataset("coco", REAL).samples
        # The network's own keypoints from one view of each crop (no real-photo spread, no turned
        # views): the rows compare networks, as they did before the Predictor spread its keypoints
        # and looked at turned views by default (2026-12-03).
        plain = {"keypoint_spread": 1.0, "tta_rotations": PLAIN_VIEW}
        keypoints, _, _ = predict_whole_images(
            estimator, samples, "whole_image", progress=False, predictor_options=plain
        )
        for subject, (_, real) in scores_by_subject(samples, keypoints).items():
            figures[f"real_{subject}"] = {"auc_0_30": real["pck"][0]["auc"], "epe_mean": real["epe_mean"]}
    return {**figures, **outdoor_figures(estimator)}


def outdoor_figures(estimator) -> dict:
    """``{"outdoor": AUC and EPE}`` on the outdoor frames where they are present, else nothing."""
    if not OUTDOOR.is_file():
        return {}
    samples = read_dataset("coco", OUTDOOR).samples
    keypoints = predict_topdown(estimator, samples, progress=False).keypoints
    outdoor = score_predictions(samples, keypoints)["image_pixels"]
    return {"outdoor": {"auc_0_30": outdoor["pck"][0]["auc"], "epe_mean": outdoor["epe_mean"]}}


def add_outdoor(folder: Path, suite: str) -> None:
    """Give every scored run of the suite that lacks it the outdoor column (a second a run)."""
    for name, result in scored(folder, suite).items():
        if "outdoor" not in result["figures"]:
            result["figures"].update(outdoor_figures(load_estimator(folder / name / "checkpoints" / "best.ckpt")))
            write_json(folder / name / "figures.json", result)


def scored(folder: Path, suite: str) -> dict[str, dict]:
    """The figures of the suite's runs scored so far, in the suite's order."""
    files = {name: folder / name / "figures.json" for name in suite_runs(suite)}
    return {name: json.loads(path.read_text()) for name, path in files.items() if path.is_file()}


def table(results: dict[str, dict]) -> str:
    """The suite's markdown table, one row a run, the real and outdoor columns where measured
    (runs scored before the outdoor column existed show "-" there)."""
    columns = list(dict.fromkeys(c for result in results.values() for c in result["figures"]))
    lines = [
        "| run | train min | crops/s | " + " | ".join(f"{c}: AUC / EPE" for c in columns) + " |",
        "|---|---|---|" + "---|" * len(columns),
    ]
    for name, result in results.items():
        figures = result["figures"]
        cells = [
            f"{figures[c]['auc_0_30']:.3f} / {figures[c]['epe_mean']:.2f}" if c in figures else "-" for c in columns
        ]
        speed = f"{result['crops_per_second']:.0f}" if result.get("crops_per_second") else "-"
        lines.append(f"| {name} | {result['train_seconds'] / 60:.1f} | {speed} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--suite",
        choices=SUITES,
        help="train and score this suite's missing runs (default: only "
        "print the tables of the runs already scored: the suites take an hour or more)",
    )
    parser.add_argument("--runs", nargs="*", help="only these runs of the suite (default: all)")
    parser.add_argument("--minutes", type=float, default=6.0, help="backbone suite: training budget per run")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per training and scoring")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "fixed_budget")
    parser.add_argument(
        "--add-outdoor", action="store_true", help="score the outdoor frames for runs scored before that column existed"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.suite is None:
        for suite in SUITES:
            if args.add_outdoor:
                add_outdoor(args.out / suite, suite)
            done = scored(args.out / suite, suite)
            print(f"{suite}:\n" + (table(done) if done else "no runs scored yet"))
        return 0
    runs = suite_runs(args.suite)
    unknown = sorted(set(args.runs or ()) - set(runs))
    if unknown:
        parser.error(f"unknown runs {', '.join(unknown)}; the {args.suite} suite has {', '.join(runs)}")
    for name in args.runs or runs:
        run_dir = args.out / args.suite / name
        if (run_dir / "figures.json").is_file():
            continue
        run_dir.mkdir(parents=True, exist_ok=True)
        config, overrides, bf16 = runs[name]
        speed = None
        if args.suite == "backbone":
            steps, speed = measured_steps(config, overrides, bf16, args.minutes)
            overrides = [*overrides, f"trainer.max_steps={steps}", "trainer.max_epochs=1000",
                         f"trainer.max_time=00:00:{int(args.minutes * 1.5):02d}:00"]  # fmt: skip
        print(f"{args.suite}/{name}: training", flush=True)
        seconds = train(run_dir, config, overrides, args.threads)
        result = {"config": config, "overrides": overrides, "train_seconds": seconds, "crops_per_second": speed,
                  "figures": score(run_dir / "checkpoints" / "best.ckpt")}  # fmt: skip
        write_json(run_dir / "figures.json", result)
        print(f"{args.suite}/{name}: {json.dumps(result['figures'])}", flush=True)
    print(table(scored(args.out / args.suite, args.suite)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
