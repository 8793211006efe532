"""Model size, compute and CPU latency, measured the same way for every network.

FLOPs follow :class:`torch.utils.flop_counter.FlopCounterMode`: a multiply-add counts as 2 FLOPs
(halve them for the MACs many papers quote), and only the heavy operators are counted
(convolutions, transposed convolutions, matrix products); BatchNorm, activations, pooling and
interpolation are not, which understates light networks slightly.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def _example_images(input_size: int | tuple[int, int], batch_size: int = 1) -> torch.Tensor:
    height, width = (input_size, input_size) if isinstance(input_size, int) else input_size
    return torch.randn(batch_size, 3, height, width)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter values (buffers such as BN statistics excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_flops(model: nn.Module, input_size: int | tuple[int, int]) -> int:
    """FLOPs of one inference on one (3, H, W) image; ``input_size`` is a side or (H, W)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(_example_images(input_size))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def measure_latency(
    model: nn.Module,
    input_size: int | tuple[int, int],
    threads: int = 1,
    repeats: int = 20,
    warmup: int = 3,
) -> float:
    """Median wall time in ms of one batch-1 inference on CPU with ``threads`` torch threads.

    Warm-up runs first (allocator and kernel selection); the median resists the outliers of a
    shared machine. Torch's thread count and the model's train/eval mode are restored afterwards.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    images = _example_images(input_size)
    previous_threads = torch.get_num_threads()
    was_training = model.training
    torch.set_num_threads(threads)
    model.eval()
    try:
        times_ms = []
        with torch.inference_mode():
            for i in range(warmup + repeats):
                start = time.perf_counter()
                model(images)
                if i >= warmup:
                    times_ms.append((time.perf_counter() - start) * 1000.0)
    finally:
        torch.set_num_threads(previous_threads)
        model.train(was_training)
    return statistics.median(times_ms)
