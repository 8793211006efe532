"""CPU latency per hand crop of the default estimator, torch against onnxruntime: batch 1, one thread.

The estimator is built from ``--config`` (untrained: latency does not depend on the weights) or
loaded from ``--weights``, exported with :func:`handpose.inference.onnx_backend.export_onnx` and
loaded back on onnxruntime's CPU provider. Per backend: the network on one normalised crop, the
numpy decoding both backends share (torch's channels-last output makes it slightly slower there),
and their sum, crop to keypoints; warm-up, then medians (and the sum's 90th percentile) over
repeats in which the backends take turns. The largest keypoint difference between the backends on
the timed crop is printed under the table. On a machine whose cores are busy with other work the
figures include that contention.

    .venv/bin/python benchmarks/bench_onnx.py [--config configs/default_long.yaml] [--weights FILE] [--repeats 200]

Without the onnx extra (``pip install 'handpose[onnx]'``) it says so and exits 0, as ``make bench``
runs every benchmark on the core install.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from handpose.estimators import Estimator
from handpose.inference.onnx_backend import OnnxEstimator, export_onnx, load_onnx_estimator
from handpose.inference.weights import WeightsError, load_estimator

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "default_long.yaml"


def measure(
    backends: dict[str, Estimator | OnnxEstimator], crop: torch.Tensor, repeats: int, warmup: int
) -> dict[str, dict[str, float]]:
    """Per backend, the median network and decode times and the median and 90th percentile of
    their sum, in ms. The backends take turns in every repeat, so that load from other work on the
    machine falls on both alike."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in backends}
    with torch.inference_mode():
        for i in range(warmup + repeats):
            for name, backend in backends.items():
                start = time.perf_counter()
                outputs = backend(crop)
                ran = time.perf_counter()
                backend.decode(outputs)
                if i >= warmup:
                    times[name].append(((ran - start) * 1000.0, (time.perf_counter() - ran) * 1000.0))
    rows = {}
    for name, pairs in times.items():
        network, decode = np.array(pairs).T
        total = network + decode
        rows[name] = {"network": float(np.median(network)), "decode": float(np.median(decode)),
                      "crop": float(np.median(total)), "crop_p90": float(np.percentile(total, 90))}
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="experiment config to build from")
    parser.add_argument("--weights", help="weights file, checkpoint or bundled name to load instead of --config")
    parser.add_argument("--repeats", type=int, default=200, help="timed runs per backend")
    parser.add_argument("--warmup", type=int, default=10, help="untimed runs before timing")
    args = parser.parse_args(argv)

    if args.weights:
        estimator, source = load_estimator(args.weights), args.weights
    else:
        from handpose.train.build import build_estimator_from_config
        from handpose.train.config import load_config

        estimator = build_estimator_from_config(load_config(args.config)).eval()
        source = f"{args.config.name} (untrained)"
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        try:
            onnx_estimator = load_onnx_estimator(export_onnx(estimator, Path(folder) / "estimator.onnx"), threads=1)
        except WeightsError as error:
            print(f"skipped: {error}")
            return
    size = estimator.crop.input_size
    pixels = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    crop = estimator.crop.normalize(pixels)
    rows = measure({"torch": estimator, "onnxruntime": onnx_estimator}, crop, args.repeats, args.warmup)
    with torch.inference_mode():
        difference = np.abs(estimator.decode(estimator(crop))[0] - onnx_estimator.decode(onnx_estimator(crop))[0]).max()

    print(f"{estimator.name} from {source}, {size}x{size} crop, batch 1, 1 thread, median of {args.repeats}")
    print("| backend | network (ms) | decode (ms) | crop to keypoints (ms) | p90 (ms) |")
    print("|---|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['network']:.2f} | {row['decode']:.2f} | {row['crop']:.2f} | {row['crop_p90']:.2f} |")
    print(f"largest keypoint difference between the backends: {difference:.2g} px")


if __name__ == "__main__":
    main()
