"""Training-pipeline throughput: samples per second through a DataLoader with augmented crops.

Uses the real frames of ../shared/data/real/uci_hand when present, otherwise synthesised noise
images written to a temporary folder. Run from the repository root:

    .venv/bin/python benchmarks/bench_pipeline.py [--workers 2] [--input-size 256] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from handpose.codecs import GaussianHeatmapCodec
from handpose.data.augment import AugmentConfig
from handpose.data.pipeline import HandPoseDataset
from handpose.image_io import write_rgb_atomic
from handpose.structures import HandSample

UCI_HAND = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "uci_hand"


def uci_hand_samples(folder: Path) -> list[HandSample]:
    """The COCO-style annotations of the UCI hand frames as samples that read their images lazily."""
    coco = json.loads((folder / "annotations.json").read_text())
    files = {image["id"]: image["file_name"] for image in coco["images"]}
    samples = []
    for annotation in coco["annotations"]:
        points = np.asarray(annotation["keypoints"], dtype=np.float64).reshape(21, 3)
        x, y, w, h = annotation["bbox"]
        samples.append(
            HandSample(
                image=folder / files[annotation["image_id"]],
                keypoints_2d=points[:, :2],
                visibility=points[:, 2].astype(np.int8),
                hand_side=annotation.get("hand_type"),
                box=np.array([x, y, x + w, y + h], dtype=np.float64),
                source="uci_hand",
                sample_id=str(annotation["id"]),
            )
        )
    return samples


def noise_samples(folder: Path, count: int, seed: int = 0) -> list[HandSample]:
    """Noise JPEGs of 256x256 with random hands, for machines without the real frames."""
    rng = np.random.default_rng(seed)
    samples = []
    for index in range(count):
        path = folder / f"noise_{index:04d}.jpg"
        write_rgb_atomic(path, rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))
        keypoints = rng.uniform(60, 200, (21, 2))
        samples.append(
            HandSample(
                image=path,
                keypoints_2d=keypoints,
                visibility=np.full(21, 2, dtype=np.int8),
                hand_side=("left", "right")[index % 2],
                box=np.concatenate([keypoints.min(0), keypoints.max(0)]),
                source="noise",
                sample_id=str(index),
            )
        )
    return samples


def measure(samples: list[HandSample], input_size: int, workers: int, batch_size: int, epochs: int) -> float:
    """Samples per second over ``epochs`` epochs, after one warm-up batch that starts the workers."""
    codec = GaussianHeatmapCodec(input_size, input_size // 4, sigma=2.0)
    dataset = HandPoseDataset(samples, codec, input_size, augment=AugmentConfig())
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=True, num_workers=workers, persistent_workers=workers > 0
    )
    next(iter(loader))
    seen, start = 0, time.perf_counter()
    for epoch in range(epochs):
        dataset.set_epoch(epoch + 1)
        for batch in loader:
            seen += len(batch["index"])
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--input-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--synthetic", type=int, default=512, help="noise images to use without the real frames")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        if (UCI_HAND / "annotations.json").is_file():
            samples, origin = uci_hand_samples(UCI_HAND), f"real frames of {UCI_HAND}"
        else:
            samples, origin = noise_samples(Path(scratch), args.synthetic), "synthesised noise images"
        rate = measure(samples, args.input_size, args.workers, args.batch_size, args.epochs)
    print(
        f"{rate:.1f} samples/s: {len(samples)} {origin}, {args.input_size}x{args.input_size} augmented crops, "
        f"{args.workers} workers, batch {args.batch_size}, {args.epochs} epoch(s)"
    )


if __name__ == "__main__":
    main()
