"""Labels of rendered scenes: projection, visibility by depth test, masks, determinism."""

import numpy as np
import pytest

from handpose.geometry.camera import project
from handpose.synth import render_scene
from handpose.synth.hand_shape import sample_hand_shape
from handpose.synth.labels import joint_tolerances, keypoint_visibility
from handpose.synth.surface import BACKGROUND, PERSON, hand_labels

SIZE = 96
SCENES = [render_scene(seed=11, index=i, size=SIZE) for i in range(8)]
HANDS = [(scene, hand) for scene in SCENES for hand in scene.hands]


def _pixels(uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    px = np.rint(uv).astype(int)
    return px[:, 0], px[:, 1]


def test_images_and_label_maps_have_the_documented_types():
    for scene in SCENES:
        assert scene.image.shape == (SIZE, SIZE, 3) and scene.image.dtype == np.uint8
        assert scene.depth.shape == (SIZE, SIZE) and scene.depth.dtype == np.float32
        assert scene.mask.shape == (SIZE, SIZE) and scene.mask.dtype == np.uint8
        assert scene.mask.max() <= 33
        assert np.all(scene.depth[scene.mask >= 2] > 0)  # hand pixels carry a depth
        assert 1 <= len(scene.hands) <= 2
        assert len({h.side for h in scene.hands}) == len(scene.hands)


def test_projecting_the_3d_keypoints_gives_the_2d_keypoints():
    for scene, hand in HANDS:
        assert np.allclose(project(hand.keypoints_3d, scene.K), hand.keypoints_2d, atol=1e-6)
        assert np.all(hand.keypoints_3d[:, 2] > 0)


def test_hand_fills_a_realistic_part_of_the_frame():
    sides = []
    for scene, hand in HANDS:
        if len(scene.hands) == 1:
            extent = hand.keypoints_2d.max(axis=0) - hand.keypoints_2d.min(axis=0)
            sides.append(extent.max() / SIZE)
    assert 0.3 < np.median(sides) < 0.8


def test_visibility_agrees_with_the_depth_map():
    shown = hidden = 0
    for scene, hand in HANDS:
        x, y = _pixels(hand.keypoints_2d)
        inside = (x >= 0) & (x < SIZE) & (y >= 0) & (y < SIZE)
        seen = np.zeros(21)
        seen[inside] = scene.depth[y[inside], x[inside]]
        z = hand.keypoints_3d[:, 2]
        # Visible joints lie behind the surface seen at their pixel by at most about a finger's radius.
        assert np.all(seen[hand.visible] > 0)
        assert np.all(z[hand.visible] - seen[hand.visible] < 40.0)
        assert np.all(z[hand.visible] - seen[hand.visible] > -1.0)
        # Hidden joints in the frame have something well in front of them, or another surface at their pixel.
        for j in np.flatnonzero(~hand.visible & inside):
            in_front = seen[j] > 0 and seen[j] < z[j] - 5.0
            other = scene.mask[y[j], x[j]] not in hand_labels(hand.side)
            assert in_front or other
        shown += hand.visible.sum()
        hidden += (~hand.visible).sum()
    assert shown > 0 and hidden > 0


def test_visibility_recomputed_from_the_maps_matches():
    rng = np.random.default_rng(0)
    for scene, hand in HANDS:
        # With an infinite tolerance, everything showing its own hand at its pixel is visible: a superset.
        loose = keypoint_visibility(hand.keypoints_3d, hand.keypoints_2d, scene.depth, scene.mask,
                                    hand_labels(hand.side), np.full(21, np.inf))
        assert np.all(loose[hand.visible])
        tight = keypoint_visibility(hand.keypoints_3d, hand.keypoints_2d, scene.depth, scene.mask,
                                    hand_labels(hand.side), np.zeros(21))
        assert not np.any(tight & ~hand.visible)
    assert joint_tolerances(sample_hand_shape(rng)).min() > 5.0


def test_masks_cover_the_visible_keypoints():
    for scene, hand in HANDS:
        x, y = _pixels(hand.keypoints_2d[hand.visible])
        assert set(scene.mask[y, x].tolist()) <= set(hand_labels(hand.side))


def test_mask_holds_hand_person_and_background_classes():
    classes = set()
    for scene in SCENES:
        classes |= set(np.unique(scene.mask).tolist())
    assert BACKGROUND in classes and PERSON in classes
    assert any(2 <= c <= 33 for c in classes)
    assert {17, 33} & classes  # some palm


def test_same_seed_and_index_give_the_same_bytes():
    again = render_scene(seed=11, index=3, size=SIZE)
    assert again.image.tobytes() == SCENES[3].image.tobytes()
    assert again.depth.tobytes() == SCENES[3].depth.tobytes()
    other = render_scene(seed=12, index=3, size=SIZE)
    assert other.image.tobytes() != SCENES[3].image.tobytes()


def test_hand_samples_validate():
    for i, scene in enumerate(SCENES):
        for sample in scene.hand_samples(sample_id=f"s{i}"):
            sample.validate()
            assert sample.source == "synth"
            assert np.array_equal(sample.visibility == 2, [h for h in scene.hands if h.side == sample.hand_side][0].visible)


@pytest.mark.parametrize("size", [64, 160])
def test_other_image_sizes_render(size):
    scene = render_scene(seed=1, index=0, size=size)
    assert scene.image.shape == (size, size, 3)
    assert np.allclose(project(scene.hands[0].keypoints_3d, scene.K), scene.hands[0].keypoints_2d)
