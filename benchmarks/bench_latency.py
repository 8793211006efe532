"""CPU cost of every pose network per 256x256 hand crop: parameters, FLOPs and latency.

Each model runs in its default configuration at its own input size, and the default model also
at half width and at 256x256 input; the crop is resized from
256x256 to that size inside the timed call (antialiased bilinear), because a deployed top-down
pipeline pays for that resize too. Batch 1, torch threads 1 and 2, warm-up, then the median over
repeats. FLOPs count a multiply-add as 2 and cover convolutions only (see
:mod:`handpose.models.complexity`); they are of the network alone, without the resize. On a machine whose cores are busy with other
work, the 2-thread figures measure that contention (OpenMP threads wait for each other at every
operator), not the model: compare them only on an otherwise idle machine.

    .venv/bin/python benchmarks/bench_latency.py [--repeats 10] [--json results.json]
    .venv/bin/python benchmarks/bench_latency.py --configs configs/*.yaml   # the experiments' networks
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from handpose.models import MODEL_NAMES, build_model
from handpose.models.complexity import count_flops, count_parameters, measure_latency

CROP_SIZE = 256
THREAD_COUNTS = (1, 2)
#: (model name, constructor arguments): every model's defaults, then variants of the default model.
CONFIGS: tuple[tuple[str, dict], ...] = tuple((name, {}) for name in MODEL_NAMES) + (
    ("mobilenetv2_pose", {"width_mult": 0.5}),
    ("mobilenetv2_pose", {"input_size": 256}),
)


class ResizedCrop(nn.Module):
    """A model preceded by the resize of the crop to its input size."""

    def __init__(self, model: nn.Module, input_size: int) -> None:
        super().__init__()
        self.model = model
        self.input_size = input_size

    def forward(self, crops: torch.Tensor) -> dict:
        if crops.shape[-1] != self.input_size:
            crops = F.interpolate(crops, size=(self.input_size, self.input_size),
                                  mode="bilinear", antialias=True, align_corners=False)
        return self.model(crops)


def named_models(names: list[str]) -> list[tuple[str, dict, nn.Module]]:
    """The models named, in every configuration of :data:`CONFIGS`."""
    return [(name, kwargs, build_model(name, **kwargs)) for name, kwargs in CONFIGS if name in names]


def config_models(paths: list[Path]) -> list[tuple[str, dict, nn.Module]]:
    """The networks of experiment configs, built as training builds them."""
    from handpose.train.build import build_estimator_from_config
    from handpose.train.config import load_config

    models = []
    for path in paths:
        config = load_config(path)
        kwargs = {key: value for key, value in config.model.items() if key != "name"}
        models.append((config.name, kwargs, build_estimator_from_config(config).network))
    return models


def benchmark(models: list[tuple[str, dict, nn.Module]], repeats: int, warmup: int) -> list[dict]:
    """One row of figures per (name, constructor arguments, model)."""
    rows = []
    for name, kwargs, model in models:
        model.eval()
        row = {
            "model": name,
            "kwargs": kwargs,
            "input_size": model.input_size,
            "heatmap_size": model.input_size // model.stride,
            "params_m": count_parameters(model) / 1e6,
            "gflops": count_flops(model, model.input_size) / 1e9,
        }
        timed = ResizedCrop(model, model.input_size)
        for threads in THREAD_COUNTS:
            row[f"ms_{threads}t"] = measure_latency(timed, CROP_SIZE, threads, repeats, warmup)
        rows.append(row)
        print(f"measured {name} {kwargs or ''}", flush=True)
    return rows


def markdown_table(rows: list[dict]) -> str:
    header = ["model", "options", "input", "heatmaps", "params (M)", "GFLOPs"] + [
        f"ms/crop, {t} thread{'s' if t > 1 else ''}" for t in THREAD_COUNTS
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        options = ", ".join(f"{k}={v}" for k, v in r["kwargs"].items()) or "defaults"
        cells = [r["model"], options, f"{r['input_size']}", f"{r['heatmap_size']}", f"{r['params_m']:.2f}",
                 f"{r['gflops']:.2f}"] + [f"{r[f'ms_{t}t']:.1f}" for t in THREAD_COUNTS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    parser.add_argument("--configs", nargs="+", type=Path, help="measure these experiment configs' networks instead")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per setting")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before timing")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    models = config_models(args.configs) if args.configs else named_models(args.models)
    rows = benchmark(models, args.repeats, args.warmup)
    print(markdown_table(rows))
    if args.json:
        args.json.write_text(json.dumps({"crop_size": CROP_SIZE, "torch": torch.__version__,
                                         "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
