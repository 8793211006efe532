"""Video on the real dev sequences: accuracy, jitter and speed of three ways to run a video.

1. per-frame: the Predictor on each frame with its default finder (the bundled hand detector
   where it is there, else the whole frame), no memory (the single-image path);
2. tracking: :class:`~handpose.inference.tracking.HandTracker`, each hand cropped around its last
   keypoints, the finder only when a hand is lost or every ``--redetect-every`` frames;
3. tracking + One-Euro: the same with the default One-Euro smoothing per track;
4. MediaPipe Hands in its tracking mode (``static_image_mode=False``, a fresh ``Hands`` per
   sequence) on the same frames in the same order, where its side environment is there
   (``handpose benchmark --mediapipe install``; ``--no-mediapipe`` leaves it out). Its ms/frame
   is ``Hands.process``'s own time, measured in its runner.

Figures come from :func:`handpose.evaluation.video.evaluate_sequences`: AUC of the PCK curve over
0-30 px (misses count as wrong), mean EPE (px, found hands), jitter of the predictions and of the
labels (mean frame-to-frame acceleration, px per step^2; the dev set labels every 6th frame, so a
step is 6 video frames), and the tracker's own time per frame (image decoding excluded). Frames
are timed as ``frame_index / --frame-rate`` seconds for the smoothing.

    .venv/bin/python benchmarks/bench_video.py [--weights default] [--limit-sequences N] [--json out.json]

Needs the real frames beside the checkout (``../shared/data``) and the weights; says so and exits
0 when the frames or the bundled weights are not there.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from handpose.evaluation.mediapipe_side import MediaPipeError, MediaPipeImage, ensure_environment, run_mediapipe
from handpose.evaluation.video import Tracker, evaluate_sequences, frame_sequences
from handpose.inference.predictor import PLAIN_VIEW, Predictor
from handpose.inference.smoothing import OneEuroParams
from handpose.inference.tracking import HandTracker
from handpose.inference.weights import BUNDLED_WEIGHTS, resolve_weights
from handpose.structures import HandPrediction

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "real" / "uci_hand" / "annotations.json"


class PerFrame:
    """The Predictor on every frame, as on single images: the baseline without tracking."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor

    def __call__(self, frame_rgb: np.ndarray, timestamp: float | None = None) -> list[HandPrediction]:
        return self.predictor(frame_rgb)


class Replay:
    """Results computed beforehand (MediaPipe's tracking mode), handed out frame by frame in the
    order :func:`evaluate_sequences` asks for them; one shared queue across its fresh trackers."""

    def __init__(self, results: list[MediaPipeImage]) -> None:
        self.results = iter(results)

    def __call__(self, frame_rgb: np.ndarray, timestamp: float | None = None) -> list[HandPrediction]:
        return next(self.results).hands


def mediapipe_tracking(data: Path, limit_sequences: int | None) -> tuple[Callable[[], Tracker], float] | None:
    """MediaPipe's tracking mode on the sequences of ``data`` as a tracker factory that replays
    its results, and its mean ms per frame; None (saying why) where its environment is not there."""
    try:
        environment = ensure_environment()
    except MediaPipeError as error:
        print(f"bench_video: MediaPipe left out: {error}")
        return None
    sequences = list(frame_sequences(data, limit_sequences).values())
    paths = [frame[0].image for sequence in sequences for frame in sequence]
    groups, start = [], 0
    for sequence in sequences:
        groups.append(list(range(start, start + len(sequence))))
        start += len(sequence)
    results = run_mediapipe(paths, "tracking", groups, environment=environment, warmup=3, cpus=1)
    replay = Replay(results)
    return (lambda: replay), float(np.mean([result.ms for result in results]))


def methods(predictor: Predictor, **tracker_options: Any) -> dict[str, Callable[[], Tracker]]:
    """Each way of running a video, as a factory of a fresh tracker per sequence;
    ``tracker_options`` go to :class:`HandTracker` (its defaults otherwise)."""
    tracker = lambda smoothing: HandTracker(predictor, smoothing=smoothing, **tracker_options)
    return {
        "per-frame": lambda: PerFrame(predictor),
        "tracking": lambda: tracker(None),
        "tracking + One-Euro": lambda: tracker(OneEuroParams()),
    }


def table(reports: dict[str, dict]) -> str:
    """The overall figures of each method, one row each."""
    lines = [
        f"{'method':<24} {'found':>9} {'AUC 0-30':>9} {'EPE px':>7} {'jitter':>7} {'GT jitter':>9} {'ms/frame':>9}",
    ]
    for name, report in reports.items():
        o = report["overall"]
        number = lambda v, fmt: "-" if v is None else format(v, fmt)
        lines.append(
            f"{name:<24} {o['found']:>4}/{o['hands']:<4} {o['auc']:>9.3f} {number(o['epe_mean'], '.2f'):>7} "
            f"{number(o['jitter'], '.2f'):>7} {number(o['gt_jitter'], '.2f'):>9} {report['ms_per_frame']:>9.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="default", help="bundled weights name, weights file or checkpoint")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="COCO-style file with sequence/frame_index")
    parser.add_argument("--limit-sequences", type=int, default=None, help="only the first N sequences by name")
    parser.add_argument("--frame-rate", type=float, default=30.0, help="rate of the video frame_index counts")
    parser.add_argument(
        "--redetect-every",
        type=int,
        default=argparse.SUPPRESS,
        help="frames between finder runs when tracking (default: the tracker's)",
    )
    parser.add_argument(
        "--min-score",
        type=float,
        default=argparse.SUPPRESS,
        help="pose score below which a hand is lost (default: the tracker's)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--no-mediapipe", action="store_true", help="leave MediaPipe's tracking mode out")
    parser.add_argument("--json", type=Path, default=None, help="write every report here")
    args = parser.parse_args(argv)

    if not args.data.is_file():
        print(f"bench_video: skipped, no real dev frames at {args.data}")
        return 0
    if args.weights in BUNDLED_WEIGHTS and not resolve_weights(args.weights).is_file():
        print(f"bench_video: skipped, the bundled weights {args.weights!r} are not in {resolve_weights(args.weights)}")
        return 0
    tracker_options = {key: getattr(args, key) for key in ("redetect_every", "min_score") if hasattr(args, key)}
    torch.set_num_threads(args.threads)
    predictor = Predictor(args.weights, tta_rotations=PLAIN_VIEW)  # one view per frame, as handpose predict runs video
    predictor(np.zeros((256, 256, 3), dtype=np.uint8))  # warm-up, so the first method pays no start-up cost
    reports = {
        name: evaluate_sequences(
            make_tracker, args.data, frame_rate=args.frame_rate, limit_sequences=args.limit_sequences, progress=True
        )
        for name, make_tracker in methods(predictor, **tracker_options).items()
    }
    mediapipe = None if args.no_mediapipe else mediapipe_tracking(args.data, args.limit_sequences)
    if mediapipe is not None:
        make_replay, ms = mediapipe
        reports["MediaPipe tracking mode"] = evaluate_sequences(
            make_replay, args.data, frame_rate=args.frame_rate, limit_sequences=args.limit_sequences
        )
        reports["MediaPipe tracking mode"]["ms_per_frame"] = ms
    first = next(iter(reports.values()))
    print(
        f"\n{first['sequences']} sequences, {first['frames']} frames; weights {args.weights}, finder "
        f"{predictor.finder}; torch threads "
        f"{args.threads}; jitter in px per step^2 (a step: the sequences' frame spacing)"
    )
    print(table(reports))
    if args.json is not None:
        args.json.write_text(
            json.dumps({"weights": str(args.weights), "finder": predictor.finder, "reports": reports}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
