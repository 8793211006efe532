"""MediaPipe Hands beside handpose: its own environment, and its hands as handpose's.

mediapipe 0.10.21, the last wheel that bundles its hand models, needs numpy<2 and
opencv-contrib-python; installed beside handpose it would replace the numpy and OpenCV that
handpose runs on. So it lives in an environment of its own, made on request
(:func:`ensure_environment`: ``python -m venv`` and ``pip install mediapipe==0.10.21``, which
pulls numpy<2 and opencv-contrib into that environment only), and runs there as a subprocess:
:mod:`handpose.evaluation.mediapipe_runner`, a script that imports nothing from handpose, reads
a JSON job and writes JSON results, which :func:`run_mediapipe` turns into
:class:`~handpose.structures.HandPrediction`\\ s. handpose's own install never changes.

The environment is at ``~/.cache/handpose/mediapipe-venv``, or where the environment variable
``HANDPOSE_MEDIAPIPE_VENV`` says.

Handedness: MediaPipe's label assumes a mirrored selfie image (its documentation says to swap the
labels for images that are not mirrored); handpose's ``hand_side`` is the side as the hand
appears in the image, whatever the camera did. Checked on the real development frames: in
040_L2_0641.jpg an open hand shows its palm with the thumb on the image's left, a left hand as it
appears (annotated "left"), and MediaPipe labels it "Right"; over all 944 frames its label is the
opposite of the annotated side for 98.4% of the hands it finds. So :data:`SIDE_OF_LABEL` swaps
the labels (docs/benchmark.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from handpose.skeleton import NUM_JOINTS
from handpose.structures import HandPrediction, HandSide, keypoint_box

#: The environment variable naming the side environment's folder, and the folder otherwise.
ENV_VARIABLE = "HANDPOSE_MEDIAPIPE_VENV"
DEFAULT_LOCATION = Path("~/.cache/handpose/mediapipe-venv")

#: What the side environment installs: the last mediapipe wheel that bundles its hand models.
REQUIREMENT = "mediapipe==0.10.21"

RUNNER = Path(__file__).with_name("mediapipe_runner.py")

#: How MediaPipe sees the images: each on its own, or the frames of a sequence in order.
MODES = ("static", "tracking")

#: MediaPipe's handedness label -> the side as the hand appears in the image (see the module
#: docstring: MediaPipe assumes a mirrored image).
SIDE_OF_LABEL: dict[str, HandSide] = {"Left": "right", "Right": "left"}


class MediaPipeError(RuntimeError):
    """MediaPipe's environment is missing or broken, or its runner failed; one line naming what."""


@dataclass(frozen=True)
class SideEnvironment:
    """A working MediaPipe environment: its Python and the mediapipe version installed there."""

    python: Path
    version: str


@dataclass(frozen=True)
class MediaPipeImage:
    """MediaPipe's hands in one image, in handpose's terms, and the milliseconds its
    ``Hands.process`` took (measured inside the runner, image already decoded)."""

    hands: list[HandPrediction]
    ms: float


def environment_location() -> Path:
    """The side environment's folder: ``$HANDPOSE_MEDIAPIPE_VENV``, else the default."""
    return Path(os.environ.get(ENV_VARIABLE) or DEFAULT_LOCATION).expanduser()


def ensure_environment(install: bool = False) -> SideEnvironment:
    """The side environment, made first when ``install`` (a venv and ``pip install``, minutes and a
    few hundred MB of downloads); raises :class:`MediaPipeError` saying why it cannot be used."""
    location = environment_location()
    python = _python_in(location)
    if install:
        _create(location, python)
    elif not python.is_file():
        raise MediaPipeError(
            f"no MediaPipe environment at {location} (`handpose benchmark --mediapipe install` makes it, "
            f"or set {ENV_VARIABLE})"
        )
    done = _call([str(python), str(RUNNER), "--version"], f"MediaPipe environment {location}")
    try:
        version = json.loads(done.stdout.strip().splitlines()[-1])["mediapipe"]
    except (IndexError, KeyError, TypeError, ValueError):
        raise MediaPipeError(f"MediaPipe environment {location}: its runner did not say its version") from None
    return SideEnvironment(python=python, version=str(version))


def run_mediapipe(
    image_paths: Sequence[str | Path],
    mode: str = "static",
    sequences: Sequence[Sequence[int]] | None = None,
    *,
    environment: SideEnvironment | None = None,
    warmup: int = 0,
    cpus: int | None = None,
) -> list[MediaPipeImage]:
    """MediaPipe Hands on each image of ``image_paths``, in that order.

    ``mode`` "static": each image on its own (``static_image_mode=True``). "tracking": as a video,
    each of ``sequences`` (lists of indices into ``image_paths``, in time order; all images in
    order when None) fed to a fresh ``Hands`` with ``static_image_mode=False``, so a frame's region
    comes from the last one's landmarks. ``warmup`` untimed calls on the first image go first;
    ``cpus`` pins the runner to that many CPUs (Linux; None: all). ``environment``: the one
    :func:`ensure_environment` gives, found afresh when None.
    """
    if mode not in MODES:
        raise ValueError(f"unknown MediaPipe mode {mode!r}; choose one of {', '.join(MODES)}")
    if cpus is not None and cpus < 1:
        raise ValueError(f"cpus must be at least 1, got {cpus}")
    paths = [Path(path).resolve() for path in image_paths]
    groups = [list(range(len(paths)))] if mode == "static" or sequences is None else [list(s) for s in sequences]
    if sorted(i for group in groups for i in group) != list(range(len(paths))):
        raise ValueError(f"sequences must list each of the {len(paths)} images exactly once")
    environment = environment if environment is not None else ensure_environment()
    job = {
        "mode": mode,
        "sequences": [[str(paths[i]) for i in group] for group in groups],
        "warmup": warmup,
        "cpus": cpus,
    }
    with tempfile.TemporaryDirectory(prefix="handpose-mediapipe-") as folder:
        job_file, out_file = Path(folder) / "job.json", Path(folder) / "results.json"
        job_file.write_text(json.dumps(job), encoding="utf-8")
        _call([str(environment.python), str(RUNNER), str(job_file), "--out", str(out_file)], "MediaPipe runner")
        try:
            results = json.loads(out_file.read_text(encoding="utf-8"))["sequences"]
        except (OSError, KeyError, TypeError, ValueError) as error:
            raise MediaPipeError(f"MediaPipe runner: unreadable results ({type(error).__name__}: {error})") from None
    if [len(images) for images in results] != [len(group) for group in groups]:
        raise MediaPipeError("MediaPipe runner: its results do not answer the images of the job one for one")
    found: list[MediaPipeImage | None] = [None] * len(paths)
    for group, images in zip(groups, results):
        for index, image in zip(group, images):
            found[index] = _image_result(paths[index], image)
    return found  # type: ignore[return-value]


def _image_result(path: Path, result: dict) -> MediaPipeImage:
    """One image of the runner's results as handpose's hands; a reason or a malformed record raises."""
    if "error" in result:
        raise MediaPipeError(f"MediaPipe runner: {result['error']}")
    try:
        hands = []
        for hand in result["hands"]:
            keypoints = np.asarray(hand["keypoints"], dtype=np.float64)
            if keypoints.shape != (NUM_JOINTS, 2):
                raise ValueError(f"keypoints of shape {keypoints.shape}")
            score = float(hand["score"])
            hands.append(
                HandPrediction(
                    box=keypoint_box(keypoints),
                    keypoints=keypoints,
                    # MediaPipe gives no per-keypoint confidence: the hand's score stands in.
                    keypoint_scores=np.full(NUM_JOINTS, score),
                    hand_side=SIDE_OF_LABEL[hand["label"]],
                    hand_score=score,
                    finder="mediapipe",
                )
            )
        return MediaPipeImage(hands=hands, ms=float(result["ms"]))
    except (KeyError, TypeError, ValueError) as error:
        raise MediaPipeError(
            f"MediaPipe runner: malformed result for {path} ({type(error).__name__}: {error})"
        ) from None


def _python_in(location: Path) -> Path:
    return location / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def _create(location: Path, python: Path) -> None:
    """A venv at ``location`` (kept where it exists) with :data:`REQUIREMENT` installed."""
    if not python.is_file():
        print(f"making the MediaPipe environment {location} (python -m venv)", file=sys.stderr)
        _call([sys.executable, "-m", "venv", str(location)], f"python -m venv {location}")
    print(f"installing {REQUIREMENT} into {location} (pip; numpy<2 and opencv-contrib go there only)", file=sys.stderr)
    _call([str(python), "-m", "pip", "install", "--quiet", REQUIREMENT], f"pip install {REQUIREMENT} into {location}")


def _call(command: list[str], what: str) -> subprocess.CompletedProcess:
    """Run ``command``; a failure raises :class:`MediaPipeError` with ``what`` and its last line of error."""
    try:
        done = subprocess.run(command, check=False, capture_output=True, text=True)
    except OSError as error:
        raise MediaPipeError(f"{what}: cannot run {command[0]} ({error})") from None
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).strip().splitlines() if line.strip()]
        raise MediaPipeError(f"{what} failed (exit {done.returncode}): {lines[-1] if lines else 'no output'}")
    return done
