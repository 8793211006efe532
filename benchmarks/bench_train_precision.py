"""Training speed per network and precision: crops per second of one training step (forward,
loss, backward, Adam step) at batch 32, fp32 against bf16 autocast, on the CPU.

These CPUs have AMX-BF16: dense convolutions run several times faster under bf16 autocast, while
depthwise ones (MobileNetV2) do not gain and may lose. This measures it for each experiment
config's network, built as training builds it (its estimator, loss and input size), so the choice
of default backbone and precision can rest on crops per CPU-second. Accuracy after a fixed budget
is the other half of that choice: train each config with ``trainer.max_time`` and
``trainer.precision=bf16-mixed`` and compare ``handpose eval`` figures (docs/results.md).

    .venv/bin/python benchmarks/bench_train_precision.py [--configs configs/default.yaml ...] [--steps 6]

On a machine whose cores are busy with other work the figures measure that contention: compare
them only on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from handpose.train.build import build_estimator_from_config
from handpose.train.config import load_config

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIGS = ("default.yaml", "default_long.yaml", "cpm_synth.yaml", "unet_synth.yaml", "nsrm_synth.yaml")
BATCH = 32


def synthetic_batch(estimator: torch.nn.Module, batch: int, seed: int = 0) -> dict:
    """Random crops with the estimator's own targets for random keypoints inside them."""
    rng = np.random.default_rng(seed)
    side = estimator.crop.input_size
    keypoints = rng.uniform(0.2 * side, 0.8 * side, (batch, 21, 2)).astype(np.float32)
    visibility = np.full((batch, 21), 2, dtype=np.int8)
    targets = {
        name: {key: torch.from_numpy(np.asarray(value)) for key, value in codec.encode(keypoints, visibility).items()}
        for name, codec in estimator.targets.items()
    }
    return {
        "image": torch.randn(batch, 3, side, side).contiguous(memory_format=torch.channels_last),
        "targets": targets,
        "keypoints": torch.from_numpy(keypoints),
        "visibility": torch.from_numpy(visibility),
    }


def crops_per_second(estimator: torch.nn.Module, batch: dict, bf16: bool, steps: int, warmup: int = 2) -> float:
    """Training crops per second over ``steps`` timed steps, after ``warmup`` untimed ones."""
    estimator.train()
    optimizer = torch.optim.Adam(estimator.parameters(), lr=1e-4)
    timings = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            terms = estimator.loss(estimator(batch["image"]), batch, epoch=0)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].float().backward()
        optimizer.step()
        if step >= warmup:
            timings.append(time.perf_counter() - start)
    return len(batch["image"]) / float(np.median(timings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="*", type=Path, default=[REPO / "configs" / c for c in DEFAULT_CONFIGS])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"batch {BATCH}, {args.threads} threads, median of {args.steps} steps")
    print("| config | network | input | fp32 crops/s | bf16 crops/s | bf16 / fp32 |")
    print("|---|---|---|---|---|---|")
    for path in args.configs:
        config = load_config(path)
        estimator = build_estimator_from_config(config)
        batch = synthetic_batch(estimator, BATCH)
        fp32 = crops_per_second(estimator, batch, bf16=False, steps=args.steps)
        bf16 = crops_per_second(estimator, batch, bf16=True, steps=args.steps)
        network = ", ".join(f"{k}={v}" for k, v in config.model.items())
        print(f"| {config.name} | {network} | {estimator.crop.input_size} | {fp32:.0f} | {bf16:.0f} | {bf16 / fp32:.2f} |", flush=True)


if __name__ == "__main__":
    main()
