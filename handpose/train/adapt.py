"""Self-training on a user's own unlabelled frames (``handpose adapt``): teacher and student.

The bundled pose networks learned from synthetic hands only, and a user's camera, light, skin and
background are not the generator's. Their own frames carry no labels, but where the network is
confident and agrees with itself its answers are nearly right; training a copy of it (the
student) on those answers (pseudo-labels), with the augmentation of ordinary training, moves it
towards the user's pictures (self-training, as in Noisy Student, Xie et al., CVPR 2020).

**Pseudo-labels.** The teacher (the weights given, frozen) finds the hands in each image as
``handpose predict`` does (:class:`~handpose.inference.predictor.Predictor` with its ``finder``;
e.g. the whole image, then the tight crop around the first pass's keypoints, the side from
running each crop as it is and mirrored). It then looks at each hand in :data:`VIEW_ROTATIONS`:
the tight crop around its keypoints as it is and turned either way, each view's keypoints mapped
back. Per joint the pseudo-label is the views' mean, and its weight the views' mean score times
their agreement (:func:`view_agreement`). Joints whose weight is below ``min_confidence`` are
left unlabelled, which the estimator's loss already ignores; a hand whose mean joint weight is
below it is left out.

Why turned views and not a mirrored image: the Predictor already runs every crop as it is and
mirrored and keeps the more confident orientation, so on the mirrored image it runs exactly the
same two crops (measured on 30 real frames: the keypoints mapped back differ by at most 0.011 px)
and always agrees with itself. The networks see right hands only, so the losing orientation is
no second opinion either. A turned crop shows the network other pixels whose answer is known; its
disagreement tracked the true keypoint error on those 30 frames (correlation 0.63) far better
than the teacher's score did (-0.37).

**Student.** A copy of the teacher, trained on the pseudo-labelled hands through the estimator's
own pieces: its training Dataset (random crops around the pseudo-labelled hand: scale, rotation,
shift, colour; left hands mirrored to right ones), its targets and its loss, with each joint's
pseudo-label weight multiplied into the per-joint weight its targets give the loss (0 for an
unlabelled joint), so a doubtful joint pulls less. Adam at a tenth of the default training's
learning rate, for a few epochs, keeps it near the teacher; ``synthetic`` mixes the toolkit's
synthetic hands into every batch to hold it nearer still (off by default: on the real
development frames it gave back part of the gain). With several ``rounds`` each student is the
next round's teacher. A side head (:mod:`handpose.train.side_head`) reads the network's features,
which the student's training moves, so after each round it is fitted again on the synthetic hands
``handpose side-head`` fits on, with the student's features: the student never learns sides from
the user's frames, whose sides nobody gave.

Each image is kept in memory only as a working copy of the hand's surroundings, large enough for
every training crop (:func:`region_factor`; about 310 px square, 0.3 MB, for 128-px crops), so a
folder of phone photos is decoded once per round, not held whole.
"""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from handpose.data.augment import AugmentConfig
from handpose.data.pipeline import mixed_loader_parts, set_dataset_epoch
from handpose.data.readers import read_dataset
from handpose.estimators import Estimator, HeatmapEstimator
from handpose.geometry.crop import CropBox, box_around, crop_affine, crop_image
from handpose.inference.crops import estimate_in_boxes
from handpose.inference.predictor import MAX_WARP_SHRINK, PLAIN_VIEW, Predictor
from handpose.inference.sources import Frame, FrameFailure, load_image, open_source
from handpose.inference.weights import load_estimator, read_metadata, save_weights
from handpose.skeleton import NUM_JOINTS
from handpose.structures import NOT_LABELLED, VISIBLE, HandPrediction, HandSample, SampleError, keypoint_box
from handpose.synth.cache import prepare_synth_set
from handpose.train.side_head import SIDE_HANDS, add_side_head, side_head_record, synthetic_side_samples

#: The views of each hand (degrees the tight crop is turned): within the training augmentation's
#: rotations, so the teacher has seen hands turned this much.
VIEW_ROTATIONS = (0.0, -25.0, 25.0)
#: The agreement's length scale as a fraction of the hand's size (the longer side of its keypoint
#: box): two views 5 % of the hand apart keep 61 % of the weight, 10 % apart 14 %.
AGREEMENT_SCALE = 0.05
#: Synthetic hands mixed in: those the bundled default was trained on (seed 1, 256 px), so the
#: cache usually has them already (``runs/cache``), and their share of each batch.
SYNTHETIC_SEED, SYNTHETIC_SIZE, SYNTHETIC_SHARE = 1, 256, 0.5


class AdaptError(ValueError):
    """An adaptation that cannot run; the message (one line) says what and why."""


@dataclass(frozen=True)
class AdaptOptions:
    """How :func:`adapt` trains; the defaults are ``handpose adapt``'s.

    ``limit``: the first N images of the folder only. ``finder``: where the teacher's hands come
    from (:data:`handpose.inference.predictor.FINDERS`). ``synthetic``: how many synthetic hands
    (generated once into ``cache_dir``) make up :data:`SYNTHETIC_SHARE` of every batch; 0 for
    none. ``agreement_scale``: :func:`view_agreement`'s scale. ``side_head_hands``: the synthetic
    hands a side head is fitted on again after each round (weights with one only).
    """

    epochs: int = 4
    rounds: int = 1
    min_confidence: float = 0.3
    batch_size: int = 16
    lr: float = 1e-3
    limit: int | None = None
    finder: str = "auto"
    seed: int = 0
    synthetic: int = 0
    cache_dir: Path = Path("runs/cache")
    device: str = "cpu"
    agreement_scale: float = AGREEMENT_SCALE
    side_head_hands: int = SIDE_HANDS
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        for name in ("epochs", "rounds", "batch_size"):
            if getattr(self, name) < 1:
                raise AdaptError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.min_confidence < 1:
            raise AdaptError(f"min_confidence must lie in [0, 1), got {self.min_confidence}")
        if self.side_head_hands < 2:
            raise AdaptError(f"side_head_hands must be at least 2, got {self.side_head_hands}")
        if not (self.lr > 0 and self.agreement_scale > 0):
            raise AdaptError(f"lr and agreement_scale must be positive, got {self.lr} and {self.agreement_scale}")
        if self.limit is not None and self.limit < 1:
            raise AdaptError(f"limit must be at least 1, got {self.limit}")
        if self.synthetic < 0:
            raise AdaptError(f"synthetic must not be negative, got {self.synthetic}")


@dataclass
class PseudoLabel:
    """One pseudo-labelled hand.

    ``sample``: the working copy of the hand's surroundings with the views' mean keypoints in its
    pixels (joints below the threshold unlabelled); ``weights`` (21,): each joint's weight, 0
    where unlabelled; ``affine`` (2, 3): the image's pixels -> the copy's.
    """

    sample: HandSample
    weights: np.ndarray
    affine: np.ndarray


@dataclass
class Labelling:
    """One teacher's pass over the images: the kept pseudo-labels, the teacher's pose confidence
    (as ``handpose predict`` reports it) on every hand it found, the images it read (name, file),
    and the frames it could not read."""

    labels: list[PseudoLabel] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    readable: list[tuple[str, Path]] = field(default_factory=list)
    failures: list[FrameFailure] = field(default_factory=list)


@dataclass
class AdaptSummary:
    """What :func:`adapt` did: images read and unreadable, hands found in them by the first
    teacher, hands and joints the last round trained on, the mean pose confidence on the hands
    before and after (NaN where none was found), the file written."""

    images: int
    unreadable: int
    hands: int
    used: int
    joints_kept: int
    confidence_before: float
    confidence_after: float
    out: Path


def view_agreement(
    keypoints: np.ndarray, scores: np.ndarray, scale: float = AGREEMENT_SCALE
) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-label keypoints (21, 2) and per-joint weights (21,) from V >= 2 views of one hand.

    ``keypoints`` (V, 21, 2) in one image's pixels and ``scores`` (V, 21). The keypoints are the
    views' mean; a joint's weight is the views' mean score (clipped to [0, 1]: a weight) times
    exp(-d^2 / (2 s^2)), d^2 the mean squared distance between two different views' keypoints and
    s = ``scale`` times the hand's size (the longer side of the mean keypoints' box). Identical
    views give the score; views a hand's size apart give about 0.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    views = len(keypoints)
    if views < 2 or keypoints.shape[1:] != (NUM_JOINTS, 2) or np.shape(scores) != keypoints.shape[:2]:
        raise ValueError(
            f"need keypoints (V >= 2, {NUM_JOINTS}, 2) and scores (V, {NUM_JOINTS}), got {keypoints.shape}, {np.shape(scores)}"
        )
    mean = keypoints.mean(axis=0)
    confidence = np.clip(np.asarray(scores, dtype=np.float64).mean(axis=0), 0.0, 1.0)
    size = float(np.ptp(mean, axis=0).max())
    if not size > 0:  # every joint at one point: no hand
        return mean, np.zeros(NUM_JOINTS)
    # The mean over ordered pairs of different views of |k_i - k_j|^2 is 2V/(V-1) times the mean
    # squared distance from the views' mean.
    spread = 2 * views / (views - 1) * ((keypoints - mean) ** 2).sum(axis=-1).mean(axis=0)
    return mean, confidence * np.exp(-spread / (2 * (scale * size) ** 2))


def region_factor(augment: AugmentConfig) -> float:
    """The side of the hand's surroundings a training crop (or a view) can reach, in tight crop
    sides: the largest zoom-out, turned by the largest rotation (a square turned by t spans
    cos t + sin t), shifted by the largest shift either way."""

    def span(degrees: float) -> float:
        turn = math.radians(min(abs(degrees), 45.0))
        return math.cos(turn) + math.sin(turn)

    high = augment.scale_range[1]
    training = high * (span(augment.rotation_degrees) + 2 * augment.shift)
    return max(training, max(span(r) for r in VIEW_ROTATIONS))


def working_copy(image: np.ndarray, region: CropBox, side: int) -> np.ndarray:
    """``region`` of ``image`` at ``side`` x ``side`` pixels (its pixels are those of
    ``crop_affine(region, side)``), area-averaged where a warp would shrink it more than
    :data:`~handpose.inference.predictor.MAX_WARP_SHRINK` times: bilinear sampling would alias."""
    if region.size / side <= MAX_WARP_SHRINK:
        return crop_image(image, region, side)
    # Cut at about one pixel per image pixel, then average down: an area resize of the cut
    # region keeps the pixel-centre mapping of crop_affine(region, side) exactly.
    return cv2.resize(crop_image(image, region, math.ceil(region.size)), (side, side), interpolation=cv2.INTER_AREA)


def label_hand(
    teacher: Estimator,
    image: np.ndarray,
    hand: HandPrediction,
    sample_id: str,
    augment: AugmentConfig,
    min_confidence: float,
    scale: float,
) -> PseudoLabel | None:
    """The pseudo-label of a hand the teacher found in ``image``, None where its mean joint weight
    is below ``min_confidence`` (see the module docstring)."""
    tight = box_around(keypoint_box(hand.keypoints), teacher.crop.padding)  # the whole-image finder's refined crop
    factor = region_factor(augment)
    region = replace(tight, size=tight.size * factor)
    # Fine enough that the most zoomed-in training crop samples it at a pixel per crop pixel; no
    # finer than the image itself.
    side = max(1, min(math.ceil(region.size), math.ceil(factor * teacher.crop.input_size / augment.scale_range[0])))
    copy_image = working_copy(image, region, side)
    middle = (side - 1) / 2.0
    flip = teacher.crop.flip_to_right and hand.hand_side == "left"
    views = [CropBox((middle, middle), side / factor, rotation=r, flip=flip) for r in VIEW_ROTATIONS]
    found = estimate_in_boxes(teacher, lambda _: copy_image, views)
    keypoints, weights = view_agreement(
        np.stack([view.keypoints for view in found]), np.stack([view.keypoint_scores for view in found]), scale
    )
    if weights.mean() < min_confidence:
        return None
    labelled = weights >= min_confidence
    sample = HandSample(
        image=copy_image,
        keypoints_2d=keypoints,
        visibility=np.where(labelled, VISIBLE, NOT_LABELLED).astype(np.int8),
        hand_side=hand.hand_side,
        box=keypoint_box(keypoints),
        source="adapt",
        sample_id=sample_id,
    )
    return PseudoLabel(sample, np.where(labelled, weights, 0.0), crop_affine(region, side))


def label_frames(
    teacher: Estimator, frames: Iterable[Frame | FrameFailure], options: AdaptOptions, total: int | None = None
) -> Labelling:
    """:func:`label_hand` on every hand the teacher finds in every readable frame, with a progress
    bar; an unreadable frame is named on stderr and passed over. Each image is decoded for its
    turn only. The pseudo-labels are the teacher network's own keypoints (no real-photo spread):
    the student learns what the network draws, and the Predictor spreads the student's alike. The
    teacher finds each hand with one view of its crop: :func:`label_hand` looks at it turned."""
    predictor = Predictor(
        estimator=teacher, finder=options.finder, device=options.device, keypoint_spread=1.0, tta_rotations=PLAIN_VIEW
    )
    labelling = Labelling()
    for frame in _readable(frames, total, "pseudo-labels", labelling.failures):
        labelling.readable.append((frame.name, frame.path))  # type: ignore[arg-type]  # files have paths
        hands = predictor(frame.image)
        for index, hand in enumerate(hands):
            sample_id = frame.name if len(hands) == 1 else f"{frame.name}:{index}"
            label = label_hand(
                teacher, frame.image, hand, sample_id, options.augment, options.min_confidence, options.agreement_scale
            )
            labelling.scores.append(hand.score)
            if label is not None:
                labelling.labels.append(label)
    return labelling


def pose_confidences(
    estimator: Estimator, frames: Iterable[Frame | FrameFailure], finder: str = "auto", total: int | None = None
) -> list[float]:
    """The pose confidence ``handpose predict`` reports with ``estimator`` for each hand it finds
    in each readable frame."""
    predictor = Predictor(estimator=estimator, finder=finder)
    return [hand.score for frame in _readable(frames, total, "confidence", []) for hand in predictor(frame.image)]


class JointWeightedDataset(Dataset):
    """The items of an estimator's training Dataset with each target's per-joint weights (the
    ``weights`` of shape (21,) that its loss applies, 0 for unlabelled joints) multiplied by the
    pseudo-label weights of the item's hand: the codecs encode labelled or not, this grades it."""

    def __init__(self, dataset: Dataset, weights: np.ndarray) -> None:
        if len(weights) != len(dataset):  # type: ignore[arg-type]
            raise ValueError(f"need one row of joint weights per item, got {len(weights)} for {len(dataset)}")  # type: ignore[arg-type]
        self.dataset = dataset
        self.weights = torch.as_tensor(np.asarray(weights), dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.weights)

    def set_epoch(self, epoch: int) -> None:
        set_dataset_epoch(self.dataset, epoch)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.dataset[index]
        joints = self.weights[index]
        for target in item["targets"].values():
            if "weights" in target and target["weights"].shape == joints.shape:
                target["weights"] = target["weights"] * joints
        return item


def check_trainable(estimator: Estimator, weights: str | Path) -> None:
    """Refuse estimators that pseudo-labelled 2D keypoints cannot train: those without heatmap
    targets (detectors, segmentation). A 3D estimator's heatmaps train; its 3D head learns nothing
    but its batch-norm statistics there (its targets have zero weight on hands without 3D)."""
    if "heatmaps" not in estimator.targets:
        raise AdaptError(
            f"{weights}: its estimator {estimator.name!r} learns from labels other than 2D keypoints; "
            "adapt trains estimators of 2D keypoints only"
        )


def synthetic_samples(count: int, cache_dir: str | Path) -> list[HandSample]:
    """``count`` synthetic hands of the toolkit's generator, generated once into ``cache_dir``."""
    annotation = prepare_synth_set(count, SYNTHETIC_SEED, SYNTHETIC_SIZE, cache_dir)
    return read_dataset("coco", annotation, policy="skip").samples


def train_student(
    student: Estimator,
    labels: list[PseudoLabel],
    options: AdaptOptions,
    seed: int,
    synthetic: list[HandSample],
    description: str = "student",
) -> None:
    """Train ``student`` in place on the pseudo-labels (and ``synthetic`` hands, a
    :data:`SYNTHETIC_SHARE` of every batch) for ``options.epochs`` epochs with Adam at
    ``options.lr``; it ends in eval mode."""
    pseudo = JointWeightedDataset(
        student.training_dataset([label.sample for label in labels], options.augment, seed),
        np.stack([label.weights for label in labels]),
    )
    if synthetic:
        parts = [pseudo, student.training_dataset(synthetic, options.augment, seed + 1)]
        draws = round(len(pseudo) / (1 - SYNTHETIC_SHARE))
        dataset, sampler = mixed_loader_parts(parts, [1 - SYNTHETIC_SHARE, SYNTHETIC_SHARE], draws, seed)
        loader = DataLoader(dataset, options.batch_size, sampler=sampler, drop_last=draws > options.batch_size)
    else:
        loader = DataLoader(
            pseudo,
            options.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(seed),
            drop_last=len(pseudo) > options.batch_size,
        )
    optimizer = torch.optim.Adam(student.parameters(), lr=options.lr)
    student.train()
    for epoch in range(options.epochs):
        set_dataset_epoch(loader.dataset, epoch)
        progress = tqdm(loader, desc=f"{description}, epoch {epoch + 1}/{options.epochs}", unit="batch")
        for batch in progress:
            batch = _to_device(batch, options.device)
            loss = student.loss(student(batch["image"]), batch, epoch)["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            progress.set_postfix(loss=f"{loss.item():.3g}")
    student.eval()


def adapt(
    images: str | Path, out: str | Path, weights: str | Path = "default", options: AdaptOptions | None = None
) -> AdaptSummary:
    """Adapt ``weights`` to the images of the folder (or glob) ``images`` and write the student
    to ``out`` (a weights file, atomically, its metadata saying how it was made). Seeds torch's
    global generator with ``options.seed``.

    Raises :class:`AdaptError` when no image can be read or none is confident enough, and the
    source's or weights' own one-line errors (:class:`~handpose.inference.sources.SourceError`,
    :class:`~handpose.inference.weights.WeightsError`).
    """
    options = options or AdaptOptions()
    torch.manual_seed(options.seed)
    teacher = load_estimator(weights, options.device).requires_grad_(False)
    check_trainable(teacher, weights)
    source = open_source(images)
    if source.kind not in ("folder", "glob", "image"):
        raise AdaptError(f"{images}: adapt takes a folder of images (or a glob), not a {source.kind}")
    total = source.total if options.limit is None else min(source.total or options.limit, options.limit)
    first = label_frames(teacher, islice(source, options.limit), options, total)
    readable = first.readable
    if not readable:
        raise AdaptError(f"{images}: none of its {len(first.failures)} image(s) could be read")
    synthetic = synthetic_samples(options.synthetic, options.cache_dir) if options.synthetic else []
    side_samples, side_source = (
        synthetic_side_samples(options.side_head_hands, options.cache_dir) if teacher.reads_side else ([], "")
    )
    side_fit: dict[str, Any] = {}
    student = copy.deepcopy(teacher).requires_grad_(True)
    if isinstance(student, HeatmapEstimator):
        student.freeze_network(False)  # a network frozen while its 3D head trained learns here
    labelling = first
    for round_index in range(options.rounds):
        if round_index:
            teacher = copy.deepcopy(student).requires_grad_(False)
            labelling = label_frames(teacher, _reread(readable), options, len(readable))
        if not labelling.scores:
            raise AdaptError(f"{images}: the teacher found no hand in its {len(readable)} image(s)")
        if not labelling.labels:
            raise AdaptError(
                f"{images}: no hand's pseudo-label reaches --min-confidence {options.min_confidence} "
                f"(mean teacher confidence {np.mean(labelling.scores):.3f}); lower it"
            )
        description = f"round {round_index + 1}/{options.rounds}"
        train_student(student, labelling.labels, options, options.seed + round_index, synthetic, description)
        if side_samples:  # the features moved: the side head is fitted again on them
            loss = add_side_head(student, side_samples)  # type: ignore[arg-type]
            side_fit = side_head_record(side_source, len(side_samples), loss)
    after = pose_confidences(student, _reread(readable), options.finder, len(readable))
    metadata = {
        "name": Path(out).stem,
        "adapted_from": str(weights),
        "adapted": {
            "images": Path(str(images)).name or str(images),
            "image_count": len(readable),
            "hands_used": len(labelling.labels),
            "rounds": options.rounds,
            "epochs": options.epochs,
            "finder": options.finder,
            "min_confidence": options.min_confidence,
            "lr": options.lr,
            "synthetic": options.synthetic,
        },
        "teacher_metadata": read_metadata(weights),
    }
    if side_fit:
        metadata["side_head"] = side_fit
    path = save_weights(student, out, metadata)
    return AdaptSummary(
        images=len(readable),
        unreadable=len(first.failures),
        hands=len(first.scores),
        used=len(labelling.labels),
        joints_kept=int(sum(label.sample.labelled.sum() for label in labelling.labels)),
        confidence_before=float(np.mean(first.scores)),
        confidence_after=float(np.mean(after)) if after else math.nan,
        out=path,
    )


def _readable(
    frames: Iterable[Frame | FrameFailure], total: int | None, description: str, failures: list[FrameFailure]
) -> Iterator[Frame]:
    """The frames that could be read, with a progress bar; the others named on stderr and
    appended to ``failures``."""
    for frame in tqdm(frames, total=total, desc=description, unit="image"):
        if isinstance(frame, FrameFailure):
            tqdm.write(f"skipped: {frame.reason}", file=sys.stderr)
            failures.append(frame)
            continue
        yield frame


def _reread(readable: list[tuple[str, Path | None]]) -> Iterator[Frame | FrameFailure]:
    """The images read before, read again (a file changed since is a failure)."""
    for name, path in readable:
        try:
            yield Frame(image=load_image(path), name=name, path=path)  # type: ignore[arg-type]
        except SampleError as error:
            yield FrameFailure(name=name, path=path, reason=str(error))


def _to_device(batch: Any, device: str | torch.device) -> Any:
    """A collated batch (nested dicts of tensors) on ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {key: _to_device(value, device) for key, value in batch.items()}
    return batch
