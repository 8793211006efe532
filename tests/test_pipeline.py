import re
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from handpose.codecs.image_normalization import IMAGE_MEAN, IMAGE_STD, normalize_image
from handpose.data.augment import AugmentConfig, evaluation_crop_box, photometric, sample_crop_box
from handpose.data.pipeline import HandPoseDataset, mixed_loader_parts, set_dataset_epoch
from handpose.geometry.camera import apply_affine
from handpose.geometry.crop import box_around, uncrop_keypoints
from handpose.structures import HandSample, SampleError

INPUT_SIZE = 32


class PeakCodec:
    """A stand-in for the heatmap codec: one hot pixel per labelled joint on a quarter-size grid."""

    stride = 4

    def encode(self, keypoints, visibility):
        size = INPUT_SIZE // self.stride
        heatmaps = np.zeros((21, size, size), dtype=np.float32)
        cells = np.floor(np.asarray(keypoints) / self.stride).astype(int)
        inside = (np.asarray(visibility) > 0) & np.all((cells >= 0) & (cells < size), axis=1)
        for joint in np.flatnonzero(inside):
            heatmaps[joint, cells[joint, 1], cells[joint, 0]] = 1.0
        return {"heatmaps": heatmaps, "weights": inside.astype(np.float32)}


def make_sample(rng: np.random.Generator, index: int, side: str | None = "right") -> HandSample:
    keypoints = rng.uniform([20, 15], [60, 45], (21, 2))
    visibility = np.full(21, 2, dtype=np.int8)
    visibility[rng.integers(21)] = 0
    return HandSample(
        image=rng.integers(0, 256, (64, 80, 3), dtype=np.uint8),
        keypoints_2d=keypoints,
        visibility=visibility,
        hand_side=side,
        box=np.concatenate([keypoints.min(0), keypoints.max(0)]),
        source="synthetic",
        sample_id=f"hand-{index}",
    )


def make_samples(n: int, seed: int = 0) -> list[HandSample]:
    rng = np.random.default_rng(seed)
    return [make_sample(rng, i, side=("left", "right", None)[i % 3]) for i in range(n)]


def test_normalize_image_uses_the_channel_statistics_and_moves_channels_first():
    image = np.zeros((2, 4, 5, 3), dtype=np.uint8)
    image[..., 1] = 255
    out = normalize_image(image)
    assert out.shape == (2, 3, 4, 5) and out.dtype == torch.float32
    assert torch.allclose(out[:, 0], torch.tensor(-IMAGE_MEAN[0] / IMAGE_STD[0]))
    assert torch.allclose(out[:, 1], torch.tensor((1 - IMAGE_MEAN[1]) / IMAGE_STD[1]))
    with pytest.raises(ValueError, match="uint8"):
        normalize_image(image.astype(np.float32))


def test_evaluation_items_map_back_to_the_source_keypoints():
    samples = make_samples(6)
    dataset = HandPoseDataset(samples, {"heatmaps": PeakCodec()}, INPUT_SIZE, augment=None, padding=1.5)
    for index, sample in enumerate(samples):
        item = dataset[index]
        assert item["image"].shape == (3, INPUT_SIZE, INPUT_SIZE) and item["targets"]["heatmaps"]["heatmaps"].shape == (21, 8, 8)
        assert item["flipped"].item() == (sample.hand_side == "left")
        labelled = sample.visibility > 0
        back = uncrop_keypoints(item["keypoints"].double().numpy(), item["affine"].numpy())
        assert np.abs(back[labelled] - sample.keypoints_2d[labelled]).max() < 1e-3
        assert torch.all(item["keypoints"][~labelled] == 0)
        assert torch.equal(item["targets"]["heatmaps"]["weights"] > 0, torch.from_numpy(labelled))
        assert item["index"].item() == index


def test_the_evaluation_crop_covers_the_padded_box():
    sample = make_samples(1)[0]
    box = evaluation_crop_box(sample, padding=2.0, flip_to_right=True)
    assert box == replace(box_around(sample.box, 2.0), flip=sample.hand_side == "left")


def test_random_crop_boxes_stay_within_the_configured_ranges():
    rng = np.random.default_rng(1)
    cfg = AugmentConfig(scale_range=(0.5, 2.0), rotation_degrees=20.0, shift=0.1)
    left, right = make_sample(rng, 0, "left"), make_sample(rng, 1, "right")
    base = box_around(left.box, 1.5)
    boxes = [sample_crop_box(left, cfg, rng, 1.5) for _ in range(300)]
    ratios = np.array([b.size / base.size for b in boxes])
    offsets = np.array([np.subtract(b.center, base.center) / b.size for b in boxes])
    rotations = np.array([b.rotation for b in boxes])
    assert ratios.min() >= 0.5 and ratios.max() <= 2.0 and np.mean(ratios < 1) == pytest.approx(0.5, abs=0.1)
    assert np.abs(offsets).max() <= 0.1 and np.abs(rotations).max() <= 20.0 and rotations.std() > 8
    assert all(b.flip for b in boxes)
    assert not sample_crop_box(right, cfg, rng, 1.5).flip
    assert not sample_crop_box(left, replace(cfg, flip_to_right=False), rng, 1.5).flip


def test_photometric_keeps_the_image_when_every_change_is_off_and_changes_it_otherwise():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    still = AugmentConfig(brightness=0, contrast=0, saturation=0, hue=0, blur_probability=0, noise_std=0)
    assert np.abs(photometric(image, still, rng).astype(int) - image).max() <= 1
    changed = photometric(image, AugmentConfig(blur_probability=1.0), rng)
    assert changed.dtype == np.uint8 and changed.shape == image.shape
    assert np.abs(changed.astype(int) - image).mean() > 5


def test_items_depend_on_seed_epoch_and_index_only():
    samples = make_samples(4)
    dataset = HandPoseDataset(samples, {"heatmaps": PeakCodec()}, INPUT_SIZE, augment=AugmentConfig(), seed=7)
    first = dataset[2]
    again = HandPoseDataset(samples, {"heatmaps": PeakCodec()}, INPUT_SIZE, augment=AugmentConfig(), seed=7)[2]
    assert all(torch.equal(first[key], again[key]) for key in first if key != "targets")
    assert all(torch.equal(first["targets"]["heatmaps"][k], again["targets"]["heatmaps"][k]) for k in ("heatmaps", "weights"))
    dataset.set_epoch(1)
    assert not torch.equal(dataset[2]["affine"], first["affine"])
    dataset.set_epoch(0)
    assert torch.equal(dataset[2]["image"], first["image"])


def batches(loader: DataLoader) -> list[torch.Tensor]:
    return [torch.cat([batch["image"].flatten(1), batch["affine"].flatten(1).float()], dim=1) for batch in loader]


def test_batches_do_not_depend_on_the_number_of_workers_even_persistent_ones():
    samples = make_samples(6)
    single = HandPoseDataset(samples, {"heatmaps": PeakCodec()}, INPUT_SIZE, augment=AugmentConfig(), seed=3)
    pooled = HandPoseDataset(samples, {"heatmaps": PeakCodec()}, INPUT_SIZE, augment=AugmentConfig(), seed=3)
    single_loader = DataLoader(single, batch_size=3)
    pooled_loader = DataLoader(pooled, batch_size=3, num_workers=2, persistent_workers=True)
    epochs = []
    for epoch in range(2):
        single.set_epoch(epoch)
        pooled.set_epoch(epoch)
        expected, observed = batches(single_loader), batches(pooled_loader)
        assert all(torch.equal(a, b) for a, b in zip(expected, observed, strict=True))
        epochs.append(expected)
    assert not torch.equal(epochs[0][0], epochs[1][0])


def test_a_missing_image_names_the_file_and_the_sample_even_in_a_worker(tmp_path):
    sample = replace(make_samples(1)[0], image=tmp_path / "gone.jpg", sample_id="seq/0042")
    dataset = HandPoseDataset([sample], {"heatmaps": PeakCodec()}, INPUT_SIZE)
    with pytest.raises(SampleError, match=r"gone\.jpg.*seq/0042"):
        dataset[0]
    in_worker = iter(DataLoader(dataset, num_workers=1))
    message = ""
    try:
        next(in_worker)
    except SampleError as error:
        message = str(error)
        error.__traceback__ = None  # its frames hold the loader; freed now, the worker stops at once
    del in_worker
    assert re.search(r"gone\.jpg.*seq/0042", message)


def test_other_failures_are_reported_with_the_sample():
    class BrokenCodec:
        def encode(self, keypoints, visibility):
            raise RuntimeError("heatmap grid mismatch")

    sample = make_samples(1)[0]
    with pytest.raises(SampleError, match=r"synthetic sample 'hand-0'.*RuntimeError: heatmap grid mismatch"):
        HandPoseDataset([sample], {"heatmaps": BrokenCodec()}, INPUT_SIZE)[0]
    bad = replace(sample, keypoints_2d=np.zeros((20, 2)))
    with pytest.raises(SampleError, match="keypoints_2d has shape"):
        HandPoseDataset([bad], {"heatmaps": PeakCodec()}, INPUT_SIZE)[0]


def test_flip_settings_must_agree():
    with pytest.raises(ValueError, match="flip_to_right"):
        HandPoseDataset(make_samples(1), {"heatmaps": PeakCodec()}, INPUT_SIZE, augment=AugmentConfig(flip_to_right=False))


def test_mixed_loading_follows_the_weights_not_the_sizes():
    parts = [HandPoseDataset(make_samples(n, seed=n), {"heatmaps": PeakCodec()}, INPUT_SIZE) for n in (3, 30, 300)]
    dataset, sampler = mixed_loader_parts(parts, weights=[1.0, 2.0, 1.0], num_samples=20000, seed=0)
    assert len(dataset) == 333 and len(sampler) == 20000
    drawn = np.array(list(sampler))
    source = np.searchsorted(np.cumsum([3, 30, 300]), drawn, side="right")
    assert np.allclose(np.bincount(source, minlength=3) / len(drawn), [0.25, 0.5, 0.25], atol=0.015)
    assert len(np.unique(drawn[source == 0])) == 3  # every sample of a small set gets drawn
    set_dataset_epoch(dataset, 4)
    assert [part.epoch for part in parts] == [4, 4, 4]
    with pytest.raises(ValueError, match="positive"):
        mixed_loader_parts(parts, weights=[1.0, 0.0, 1.0], num_samples=10)


def test_with_the_heatmap_codec_the_decoded_peaks_are_the_crop_keypoints():
    codecs = pytest.importorskip("handpose.codecs")
    codec = codecs.GaussianHeatmapCodec(64, 16, sigma=2.0)
    sample = make_samples(1)[0]
    item = HandPoseDataset([sample], {"heatmaps": codec}, 64, augment=AugmentConfig(shift=0.0, scale_range=(1.0, 1.0)))[0]
    decoded, _ = codec.decode(item["targets"]["heatmaps"]["heatmaps"].numpy())
    keypoints = item["keypoints"].numpy()
    use = item["targets"]["heatmaps"]["weights"].numpy() > 0
    assert use.sum() > 10
    assert np.median(np.abs(decoded[use] - keypoints[use])) < 0.05  # a few joints near an edge decode worse
    cropped = apply_affine(sample.keypoints_2d, item["affine"].numpy())
    assert np.allclose(cropped[use], keypoints[use], atol=1e-3)


def test_wrong_side_crops_show_the_other_side_and_ask_for_no_hand():
    from handpose.codecs import GaussianHeatmapCodec

    codec = GaussianHeatmapCodec(64, 16, sigma=2.0)
    samples = make_samples(6)  # left, right, unknown side, twice
    always = HandPoseDataset(samples, {"heatmaps": codec}, 64, augment=AugmentConfig(wrong_side_probability=1.0))
    never = HandPoseDataset(samples, {"heatmaps": codec}, 64, augment=AugmentConfig())
    for index, sample in enumerate(samples):
        wrong, right = always[index], never[index]
        assert bool(right["flipped"]) == (sample.hand_side == "left")
        if sample.hand_side is None:  # no side, no wrong side: the item is the plain one
            assert torch.equal(wrong["image"], right["image"]) and not bool(wrong["flipped"])
            continue
        assert bool(wrong["flipped"]) != bool(right["flipped"])
        assert torch.count_nonzero(wrong["targets"]["heatmaps"]["heatmaps"]) == 0
        assert torch.all(wrong["targets"]["heatmaps"]["weights"] == 1)
        assert torch.count_nonzero(right["targets"]["heatmaps"]["heatmaps"]) > 0


def test_wrong_side_crops_need_targets_that_can_say_no_hand_and_a_network_of_right_hands():
    with pytest.raises(ValueError, match="'heatmaps' cannot say that no hand is there"):
        HandPoseDataset(make_samples(2), {"heatmaps": PeakCodec()}, INPUT_SIZE, augment=AugmentConfig(wrong_side_probability=0.5))
    with pytest.raises(ValueError, match="wrong_side_probability needs flip_to_right"):
        AugmentConfig(wrong_side_probability=0.5, flip_to_right=False)
    with pytest.raises(ValueError, match="wrong_side_probability must lie in"):
        AugmentConfig(wrong_side_probability=1.5)


def test_upright_crops_stand_the_hand_upright_before_the_random_turn():
    from handpose.geometry.crop import MIDDLE_MCP, crop_affine, upright_rotation

    samples = [replace(s, visibility=np.full(21, 2, dtype=np.int8)) for s in make_samples(6)]
    rng = np.random.default_rng(0)
    for sample in samples:
        box = sample_crop_box(sample, AugmentConfig(upright_probability=1.0, rotation_degrees=10.0), rng, 1.5)
        crop = apply_affine(sample.keypoints_2d, crop_affine(box, 64))
        lean = np.degrees(np.arctan2(*(crop[MIDDLE_MCP] - crop[0]) * [1, -1]))
        assert abs(lean) <= 10.0 + 1e-6  # upright, give or take the random turn
        assert abs(box.rotation - upright_rotation(sample.keypoints_2d)) <= 10.0 + 1e-6
    plain = [sample_crop_box(s, AugmentConfig(), np.random.default_rng(1), 1.5) for s in samples]
    unused = [sample_crop_box(s, AugmentConfig(upright_probability=0.0), np.random.default_rng(1), 1.5) for s in samples]
    assert plain == unused  # off: every draw as before
    hidden = replace(samples[0], visibility=np.where(np.arange(21) == MIDDLE_MCP, 0, samples[0].visibility))
    turned = sample_crop_box(hidden, AugmentConfig(upright_probability=1.0, rotation_degrees=0.0), rng, 1.5)
    assert turned.rotation == 0.0  # without the knuckle's label the crop stays plain
    with pytest.raises(ValueError, match="upright_probability must lie in"):
        AugmentConfig(upright_probability=-0.1)
