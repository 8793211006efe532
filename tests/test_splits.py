import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handpose.data.readers import read_dataset
from handpose.data.splits import group_of, split_samples
from handpose.structures import HandSample

from native_fixtures import write_freihand

FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}


def _sample(index, **extras):
    return HandSample(
        image=np.zeros((4, 4, 3), np.uint8), keypoints_2d=np.zeros((21, 2)), visibility=np.full(21, 2, np.int8),
        hand_side="right", box=np.array([0.0, 0.0, 1.0, 1.0]), source="test", sample_id=f"s{index:05d}", extras=extras,
    )


def _ids(parts):
    return {name: [s.sample_id for s in part] for name, part in parts.items()}


def test_parts_are_disjoint_complete_and_near_their_fractions():
    samples = [_sample(i) for i in range(2000)]
    parts = split_samples(samples, FRACTIONS, seed=3)
    ids = _ids(parts)
    all_ids = [i for part in ids.values() for i in part]
    assert sorted(all_ids) == sorted(s.sample_id for s in samples)  # every sample once
    for name, fraction in FRACTIONS.items():
        assert abs(len(ids[name]) - fraction * 2000) <= 1


def test_deterministic_seeded_and_independent_of_input_order():
    samples = [_sample(i) for i in range(300)]
    first = _ids(split_samples(samples, FRACTIONS, seed=7))
    assert _ids(split_samples(samples, FRACTIONS, seed=7)) == first
    shuffled = [samples[i] for i in np.random.default_rng(0).permutation(len(samples))]
    assert {k: sorted(v) for k, v in _ids(split_samples(shuffled, FRACTIONS, seed=7)).items()} == {k: sorted(v) for k, v in first.items()}
    assert _ids(split_samples(samples, FRACTIONS, seed=8)) != first


def test_freihand_appearances_of_one_hand_stay_together(tmp_path):
    write_freihand(tmp_path, num_labels=10)
    samples = read_dataset("freihand", tmp_path).samples
    parts = split_samples(samples, {"train": 0.6, "val": 0.2, "test": 0.2}, seed=1)
    part_of_label = {}
    for name, part in parts.items():
        for sample in part:
            assert part_of_label.setdefault(sample.extras["label_index"], name) == name
    assert all(len(part) % 4 == 0 and part for part in parts.values())


def test_group_by_sequence_or_function():
    samples = [_sample(i, sequence=f"seq{i // 7}", subject=f"p{i // 50}") for i in range(140)]
    parts = split_samples(samples, FRACTIONS, group_by="sequence")
    seen = {}
    for name, part in parts.items():
        for sample in part:
            assert seen.setdefault(sample.extras["sequence"], name) == name
    by_subject = split_samples(samples, {"train": 0.5, "test": 0.5}, group_by=lambda s: s.extras["subject"])
    assert {s.extras["subject"] for s in by_subject["train"]}.isdisjoint({s.extras["subject"] for s in by_subject["test"]})


def test_every_part_gets_a_group_even_from_few_groups():
    samples = [_sample(i, sequence=f"seq{i % 4}") for i in range(40)]
    parts = split_samples(samples, {"train": 0.9, "val": 0.05, "test": 0.05}, group_by="sequence")
    assert all(parts.values())


@settings(max_examples=30, deadline=None)
@given(groups=st.lists(st.integers(0, 15), min_size=1, max_size=60), seed=st.integers(0, 10**6))
def test_no_group_is_ever_cut(groups, seed):
    samples = [_sample(i, group=g) for i, g in enumerate(groups)]
    parts = split_samples(samples, FRACTIONS, seed=seed)
    part_of = {}
    for name, part in parts.items():
        for sample in part:
            assert part_of.setdefault(group_of(sample), name) == name
    assert sum(len(p) for p in parts.values()) == len(samples)


def test_bad_fractions_and_missing_group_key():
    samples = [_sample(i) for i in range(10)]
    with pytest.raises(ValueError, match="sum to 1"):
        split_samples(samples, {"train": 0.8, "test": 0.1})
    with pytest.raises(ValueError, match="non-negative"):
        split_samples(samples, {"train": 1.2, "test": -0.2})
    with pytest.raises(KeyError, match="sequence"):
        split_samples(samples, FRACTIONS, group_by="sequence")
