"""Throughput of the synthetic hand generator on one core: samples per second at 256 x 256.

Runs :func:`handpose.synth.generate_dataset` with one worker (rendering, camera effects and file
writing; no torch) pinned to a single CPU, and reports wall-clock and CPU-time rates. The target
is at least 50 samples per second.

    .venv/bin/python benchmarks/bench_synth.py [--count 300] [--format coco|rhd] [--size 256]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

TARGET = 50.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--format", choices=("coco", "rhd"), default="coco")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    from handpose.synth import generate_dataset
    from handpose.synth.scene import render_scene

    render_scene(args.seed, 0, args.size)  # warm up imports and caches
    with tempfile.TemporaryDirectory() as out:
        wall, cpu = time.perf_counter(), time.process_time()
        generate_dataset(out, args.count, size=args.size, seed=args.seed, format=args.format, workers=1)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"synth {args.format} {args.size}x{args.size}, {args.count} samples, 1 worker on 1 core:")
    print(f"  {args.count / wall:.1f} samples/s wall clock ({1000 * wall / args.count:.1f} ms per sample)")
    print(f"  {args.count / cpu:.1f} samples/s of CPU time ({1000 * cpu / args.count:.1f} ms per sample)")
    print(f"  target {TARGET:.0f} samples/s: {'met' if args.count / wall >= TARGET else 'NOT met'}")


if __name__ == "__main__":
    main()
