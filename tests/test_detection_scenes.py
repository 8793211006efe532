"""The generator's detection scenes (scene_kind="detection") and how they reach the data."""

import json

import numpy as np
import pytest

from handpose.data.readers import read_dataset
from handpose.data.readers.coco import NO_HAND
from handpose.synth import generate_dataset, render_detection_scene, render_scene
from handpose.synth.cache import synth_set_folder
from handpose.synth.scene import MIN_HAND_PIXELS
from handpose.synth.surface import HAND_LABEL_BASE, PALM_OFFSET, PERSON
from handpose.train.config import ConfigError, SourceConfig

SIZE = 128


@pytest.fixture(scope="module")
def scenes():
    return [render_detection_scene(5, index, SIZE) for index in range(40)]


def test_same_seed_and_index_give_the_same_scene():
    first, again = (render_detection_scene(9, 3, SIZE) for _ in range(2))
    assert np.array_equal(first.image, again.image) and np.array_equal(first.mask, again.mask)
    assert len(first.hands) == len(again.hands)
    for a, b in zip(first.hands, again.hands):
        assert a.side == b.side and np.array_equal(a.box, b.box) and np.array_equal(a.keypoints_2d, b.keypoints_2d)


def test_scene_kinds_differ_and_an_unknown_kind_is_refused():
    assert not np.array_equal(render_scene(9, 3, SIZE).image, render_detection_scene(9, 3, SIZE).image)
    with pytest.raises(ValueError, match="scene_kind"):
        generate_dataset("unused", 1, scene_kind="crowd")


def test_detection_scenes_vary_in_count_scale_side_and_framing(scenes):
    counts = [len(scene.hands) for scene in scenes]
    assert min(counts) == 0 and max(counts) >= 3
    hands = [hand for scene in scenes for hand in scene.hands]
    sides = np.array([np.max(hand.box[2:] - hand.box[:2]) for hand in hands])
    assert sides.min() < 0.15 * SIZE and sides.max() > 0.6 * SIZE
    assert {hand.side for hand in hands} == {"left", "right"}
    cut = [hand for hand in hands if np.any((hand.keypoints_2d < 0) | (hand.keypoints_2d > SIZE - 1))]
    assert cut, "some hands should be cut by the frame's edge"
    for scene in scenes:
        for hand in scene.hands:
            assert np.all(hand.box >= 0) and np.all(hand.box <= SIZE - 1)


def test_scenes_without_hands_show_skin_that_is_not_a_hand(scenes):
    empty = [scene for scene in scenes if not scene.hands]
    assert empty
    for scene in empty:
        assert np.any(scene.mask == PERSON)  # a distractor limb or blob, or the person behind
        assert not np.any(scene.mask >= HAND_LABEL_BASE["left"])


def test_every_labelled_hand_is_seen(scenes):
    for scene in scenes:
        for hand in scene.hands:
            base = HAND_LABEL_BASE[hand.side]
            x0, y0, x1, y1 = np.round(hand.box).astype(int)
            inside = scene.mask[y0:y1 + 1, x0:x1 + 1]
            assert np.count_nonzero((inside >= base) & (inside <= base + PALM_OFFSET)) >= MIN_HAND_PIXELS


def test_coco_sets_keep_images_without_hands_readable(tmp_path):
    path = generate_dataset(tmp_path, 12, size=64, seed=5, progress=False, scene_kind="detection")
    data = json.loads(path.read_text())
    annotated = {ann["image_id"] for ann in data["annotations"]}
    hand_less = [image for image in data["images"] if image["id"] not in annotated]
    assert len(data["images"]) == 12 and hand_less
    assert len({ann["id"] for ann in data["annotations"]}) == len(data["annotations"])

    plain = read_dataset("coco", path, policy="skip").samples
    assert not any(sample.extras.get(NO_HAND) for sample in plain)
    with_empty = read_dataset("coco", path, policy="skip", empty_images=True).samples
    stand_ins = [sample for sample in with_empty if sample.extras.get(NO_HAND)]
    assert len(with_empty) == len(plain) + len(hand_less)
    assert sorted(str(s.image.name) for s in stand_ins) == sorted(image["file_name"].split("/")[-1] for image in hand_less)
    for sample in stand_ins:
        assert not sample.labelled.any() and sample.hand_side is None
        assert sample.load_image().shape == (64, 64, 3)
    # A data spec's options are text.
    assert len(read_dataset("coco", path, policy="skip", empty_images="true").samples) == len(with_empty)
    with pytest.raises(ValueError, match="empty_images"):
        read_dataset("coco", path, empty_images="yes")


def test_rhd_layout_refuses_detection_scenes(tmp_path):
    with pytest.raises(ValueError, match="one left and one right"):
        generate_dataset(tmp_path, 2, size=64, format="rhd", progress=False, scene_kind="detection")


def test_the_cache_key_names_a_non_default_scene_kind(tmp_path):
    assert synth_set_folder(10, 0, 64, tmp_path).name == "synth-v1-n10-seed0-64px"
    assert synth_set_folder(10, 0, 64, tmp_path, scene_kind="detection").name == "synth-v1-n10-seed0-64px-detection"


def test_source_config_checks_the_scene_kind():
    assert SourceConfig("synth", scene_kind="detection").scene_kind == "detection"
    with pytest.raises(ConfigError, match="scene_kind"):
        SourceConfig("synth", scene_kind="crowd")
    with pytest.raises(ConfigError, match="scene_kind"):
        SourceConfig("coco", path="x.json", scene_kind="detection")
