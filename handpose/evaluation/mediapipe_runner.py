"""Runs MediaPipe Hands on image files; a script for MediaPipe's own environment, not for handpose's.

mediapipe 0.10.21 (the last wheel that bundles its hand models) needs numpy<2 and
opencv-contrib-python, which handpose's environment cannot take, so this file runs with the
Python of a separate environment (:mod:`handpose.evaluation.mediapipe_side` makes it and calls
this script). It must therefore import nothing from handpose, nor anything that environment
lacks: the standard library, numpy, cv2 and mediapipe only.

Usage::

    python mediapipe_runner.py [JOB.json | -] [--out RESULTS.json]
    python mediapipe_runner.py --version        # {"mediapipe": "0.10.21"}: the environment works

The job (a file, or stdin when omitted or ``-``)::

    {"mode": "static" | "tracking",
     "sequences": [[image path, ...], ...],   # tracking: each in time order
     "warmup": 0,                             # untimed calls on the first image before timing
     "cpus": null}                            # run on this many CPUs only (Linux), null: all

``static`` runs every image on its own (``static_image_mode=True``: palm detection on each);
``tracking`` feeds each sequence in order to a fresh ``Hands`` (``static_image_mode=False``: the
landmarks of one frame give the next frame's region, as in a video). Both use
``model_complexity=1`` and ``max_num_hands=2``, MediaPipe's defaults otherwise.

The results (``--out`` file, or stdout) hold the version and, per sequence, per image::

    {"ms": time of Hands.process alone, "width": W, "height": H,
     "hands": [{"keypoints": 21 x [x, y], "label": "Left" | "Right", "score": float}, ...]}

or ``{"error": "..."}`` for an image that cannot be read. Keypoints are in pixels with the centre
of the top-left pixel at (0, 0): MediaPipe's normalised coordinates count from the image's edge
(its own drawing code takes ``floor(x * width)`` as the pixel), so x = x_norm * W - 0.5. The label
is MediaPipe's, unchanged: it assumes a mirrored selfie image, and the caller converts it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

MODEL_COMPLEXITY = 1
MAX_NUM_HANDS = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="MediaPipe Hands on image files (a JSON job in, JSON results out)")
    parser.add_argument("job", nargs="?", default="-", help="job JSON file (default: stdin)")
    parser.add_argument("--out", help="results JSON file (default: stdout)")
    parser.add_argument("--version", action="store_true", help="print the mediapipe version as JSON and exit")
    args = parser.parse_args(argv)
    if args.version:
        import mediapipe

        print(json.dumps({"mediapipe": mediapipe.__version__}))
        return 0
    job = json.load(sys.stdin) if args.job == "-" else _read_json(args.job)
    if job.get("cpus"):
        # Before mediapipe starts its threads, which inherit the process's CPUs.
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: int(job["cpus"])])
    results = run(job["mode"], job["sequences"], int(job.get("warmup", 0)))
    text = json.dumps(results)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def run(mode: str, sequences: list[list[str]], warmup: int) -> dict:
    """The results document (see the module docstring) for ``sequences`` of image paths."""
    import mediapipe

    if mode not in ("static", "tracking"):
        raise ValueError(f"mode must be 'static' or 'tracking', got {mode!r}")
    options = {
        "static_image_mode": mode == "static",
        "model_complexity": MODEL_COMPLEXITY,
        "max_num_hands": MAX_NUM_HANDS,
    }
    # Static mode keeps no state between images, so one graph serves them all.
    shared = mediapipe.solutions.hands.Hands(**options) if mode == "static" else None
    try:
        first = next((path for sequence in sequences for path in sequence), None)
        image = _read(first) if warmup and first is not None else None
        if image is not None:
            warm = shared if shared is not None else mediapipe.solutions.hands.Hands(**options)
            for _ in range(warmup):
                warm.process(image)
            if warm is not shared:
                warm.close()
        done = []
        for sequence in sequences:
            hands = shared if shared is not None else mediapipe.solutions.hands.Hands(**options)
            try:
                done.append([_process(hands, path) for path in sequence])
            finally:
                if hands is not shared:
                    hands.close()
    finally:
        if shared is not None:
            shared.close()
    return {"mediapipe": mediapipe.__version__, "mode": mode, "sequences": done}


def _process(hands: object, path: str) -> dict:
    image = _read(path)
    if image is None:
        return {"error": f"{path}: missing or not a readable image"}
    start = time.perf_counter()
    found = hands.process(image)
    ms = 1000.0 * (time.perf_counter() - start)
    height, width = image.shape[:2]
    result = {"ms": ms, "width": width, "height": height, "hands": []}
    for landmarks, handedness in zip(found.multi_hand_landmarks or [], found.multi_handedness or []):
        best = handedness.classification[0]
        result["hands"].append(
            {
                "keypoints": [[p.x * width - 0.5, p.y * height - 0.5] for p in landmarks.landmark],
                "label": best.label,
                "score": best.score,
            }
        )
    return result


def _read(path: str):
    """The image as RGB uint8, or None where it cannot be read."""
    import cv2

    image = cv2.imread(path, cv2.IMREAD_COLOR)
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


if __name__ == "__main__":
    sys.exit(main())
