"""Checking a dataset before training on it: what was read, what was not and why, what it holds.

:func:`check_dataset` turns a reader's :class:`~handpose.data.readers.ReadResult` into a
:class:`DatasetReport` (counts, skipped and excluded hands with reasons, per-joint labelled
fractions, box sizes, hand sides); with ``check_images`` it also decodes every image, which finds
truncated files and labels that do not fit the image they point to.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from handpose.data.readers.common import POLICIES, Policy, ReadResult, describe_far_outside, joints_far_outside
from handpose.image_io import read_rgb, size_mismatch
from handpose.skeleton import JOINT_NAMES, NUM_JOINTS
from handpose.structures import NOT_LABELLED, VISIBLE, HandSample, SampleError


@dataclass
class DatasetReport:
    """Figures of one read dataset; ``usable`` is False when no sample survived."""

    samples: list[HandSample]  # the good samples (after the image check, when run)
    skipped: list[tuple[str, str]]  # (sample id, reason): bad labels and, with the image check, bad images
    excluded: dict[str, int]
    images_checked: bool = False
    num_images: int = 0
    labelled_fraction: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS))
    visible_fraction: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS))
    box_sizes: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # (N, 2) width, height in pixels
    hand_sides: dict[str, int] = field(default_factory=dict)
    with_3d: int = 0
    with_intrinsics: int = 0

    @property
    def usable(self) -> bool:
        return len(self.samples) > 0


def check_dataset(result: ReadResult, check_images: bool = False, policy: Policy = "error", progress: bool = True) -> DatasetReport:
    """Gather the figures of ``result``; ``check_images`` decodes each image under ``policy``."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    samples, skipped = list(result.samples), list(result.skipped)
    if check_images:
        samples, bad = check_sample_images(samples, policy, progress)
        skipped += bad
    visibility = np.array([s.visibility for s in samples]).reshape(-1, NUM_JOINTS)
    boxes = np.array([s.box for s in samples], dtype=np.float64).reshape(-1, 4)
    return DatasetReport(
        samples=samples,
        skipped=skipped,
        excluded=dict(result.excluded),
        images_checked=check_images,
        num_images=len({str(s.image) for s in samples}),
        labelled_fraction=(visibility > NOT_LABELLED).mean(axis=0) if len(samples) else np.zeros(NUM_JOINTS),
        visible_fraction=(visibility == VISIBLE).mean(axis=0) if len(samples) else np.zeros(NUM_JOINTS),
        box_sizes=boxes[:, 2:] - boxes[:, :2],
        hand_sides=dict(Counter(s.hand_side or "unknown" for s in samples)),
        with_3d=sum(s.keypoints_3d is not None for s in samples),
        with_intrinsics=sum(s.K is not None for s in samples),
    )


def check_sample_images(
    samples: list[HandSample], policy: Policy = "error", progress: bool = True
) -> tuple[list[HandSample], list[tuple[str, str]]]:
    """Decode each distinct image once; return the samples whose image is readable and fits their
    labels, and (sample id, reason) for the others (under ``policy="error"`` the first one raises)."""
    problems: dict[str, str | None] = {}
    sizes: dict[str, tuple[int, int]] = {}
    good, bad = [], []
    # disable=None: tqdm shows the bar only on a terminal
    for sample in tqdm(samples, desc="checking images", unit="sample", disable=None if progress else True):
        key = str(sample.image)
        if key not in problems:
            try:
                height, width = read_rgb(Path(key), sample_id=sample.sample_id).shape[:2]
                sizes[key], problems[key] = (width, height), None
            except SampleError as error:
                problems[key] = str(error)
        reason = problems[key] or _label_misfit(sample, sizes[key])
        if reason is None:
            good.append(sample)
            continue
        reason = f"{sample.source} sample {sample.sample_id!r}: {reason}"
        if policy == "error":
            raise SampleError(reason)
        bad.append((sample.sample_id, reason))
    return good, bad


def _label_misfit(sample: HandSample, actual: tuple[int, int]) -> str | None:
    mismatch = size_mismatch(sample.image, actual, sample.extras.get("image_size"))
    if mismatch is not None:
        return mismatch
    far = joints_far_outside(sample.keypoints_2d, sample.visibility, actual)
    return describe_far_outside(far, sample.keypoints_2d, actual, Path(sample.image)) if far else None


def format_report(report: DatasetReport, title: str, max_reasons: int = 20) -> str:
    """The report as text for the terminal."""
    lines = [title]
    lines.append(
        f"good samples: {len(report.samples)} in {report.num_images} images"
        f" ({'images decoded' if report.images_checked else 'images not decoded; use --check-images'})"
    )
    lines.append(f"bad samples (skipped): {len(report.skipped)}")
    for _, reason in report.skipped[:max_reasons]:
        lines.append(f"  - {reason}")
    if len(report.skipped) > max_reasons:
        lines.append(f"  ... and {len(report.skipped) - max_reasons} more")
    if report.excluded:
        lines.append("hands the format marks as absent (not errors):")
        lines += [f"  - {reason}: {count}" for reason, count in sorted(report.excluded.items())]
    if not report.usable:
        lines.append("UNUSABLE: no good samples")
        return "\n".join(lines)
    sides = ", ".join(f"{side} {count}" for side, count in sorted(report.hand_sides.items()))
    lines.append(f"hand sides: {sides}")
    lines.append(f"with 3D keypoints: {report.with_3d}; with camera intrinsics: {report.with_intrinsics}")
    for name, values in (("box width", report.box_sizes[:, 0]), ("box height", report.box_sizes[:, 1])):
        low, median, high = np.percentile(values, [0, 50, 100])
        lines.append(f"{name} (px): min {low:.1f}, median {median:.1f}, max {high:.1f}")
    lines.append("per joint: labelled fraction / visible fraction")
    for j, name in enumerate(JOINT_NAMES):
        lines.append(f"  {name:<12} {report.labelled_fraction[j]:.3f} / {report.visible_fraction[j]:.3f}")
    return "\n".join(lines)
