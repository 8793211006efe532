"""Deterministic, seeded, grouped splits of a sample list (train / val / test by fractions).

Samples that share a group (FreiHAND's four appearances of one labelled hand, the frames of one
sequence, one subject's images) always land in the same split, so that no near-duplicate of a
training sample leaks into evaluation. Groups are ordered by a seeded hash of their key, which
makes a split independent of the order of the samples and of the machine, and then dealt out in
that order until each split holds its fraction of the samples.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Callable, Hashable, Mapping

from handpose.structures import HandSample

#: The group a reader gives each sample (the image, a FreiHAND label, an STB sequence); without it, the sample alone.
DEFAULT_GROUP = "group"

GroupKey = str | Callable[[HandSample], Hashable]


def group_of(sample: HandSample, group_by: GroupKey = DEFAULT_GROUP) -> Hashable:
    """The sample's group: ``extras[group_by]`` (or a function of the sample); for the default key,
    the sample id when the reader gave no group."""
    if callable(group_by):
        return group_by(sample)
    if group_by in sample.extras:
        return sample.extras[group_by]
    if group_by == DEFAULT_GROUP:
        return sample.sample_id
    raise KeyError(f"sample {sample.sample_id!r} has no extras[{group_by!r}] to group by")


def split_samples(
    samples: list[HandSample], fractions: Mapping[str, float], seed: int = 0, group_by: GroupKey = DEFAULT_GROUP
) -> dict[str, list[HandSample]]:
    """Split ``samples`` into named parts holding about ``fractions`` of them (fractions sum to 1).

    Whole groups are assigned, so a part's share can differ from its fraction by up to one group's
    size; every part with a positive fraction receives at least one group when there are enough.
    Within a part, samples keep their input order.
    """
    names = list(fractions)
    shares = [float(fractions[name]) for name in names]
    if not names or any(share < 0 for share in shares) or abs(sum(shares) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be non-negative and sum to 1, got {dict(fractions)}")
    members: dict[Hashable, list[int]] = defaultdict(list)
    for index, sample in enumerate(samples):
        members[group_of(sample, group_by)].append(index)
    order = sorted(members, key=lambda group: _seeded_hash(seed, group))
    bounds = [sum(shares[: i + 1]) * len(samples) for i in range(len(names))]
    part_of_group = {}
    dealt = 0
    for group in order:
        middle = dealt + len(members[group]) / 2.0  # a group goes where its middle sample falls
        part_of_group[group] = next((i for i, bound in enumerate(bounds) if middle < bound), len(names) - 1)
        dealt += len(members[group])
    _give_each_part_a_group(part_of_group, order, shares)
    parts: dict[str, list[HandSample]] = {name: [] for name in names}
    for index, sample in enumerate(samples):
        parts[names[part_of_group[group_of(sample, group_by)]]].append(sample)
    return parts


def _give_each_part_a_group(part_of_group: dict[Hashable, int], order: list[Hashable], shares: list[float]) -> None:
    """Move single groups into parts with a positive fraction that got none (small sample sets)."""
    for part, share in enumerate(shares):
        if share <= 0 or part in part_of_group.values():
            continue
        counts = defaultdict(int)
        for assigned in part_of_group.values():
            counts[assigned] += 1
        donor = next((g for g in reversed(order) if counts[part_of_group[g]] > 1), None)
        if donor is not None:
            part_of_group[donor] = part


def _seeded_hash(seed: int, group: Hashable) -> bytes:
    return hashlib.blake2b(f"{seed}\x00{group!r}".encode(), digest_size=16).digest()
