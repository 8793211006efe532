import math

import numpy as np
import pytest

from handpose.codecs import LimbMaskCodec
from handpose.skeleton import FINGERS, WRIST


def one_bone(scale: float = 1.0):
    """Only the wrist (at heatmap pixel (1, 2)) and the thumb's base (at (5, 2)) are labelled:
    the single horizontal bone wrist -> thumb_cmc, which NSRM counts in the palm group."""
    keypoints = np.zeros((21, 2))
    visibility = np.zeros(21, dtype=np.int8)
    keypoints[WRIST] = [1.0, 2.0]
    keypoints[FINGERS["thumb"][0]] = [5.0, 2.0]
    visibility[[WRIST, FINGERS["thumb"][0]]] = 2
    # Heatmap coordinate h sits at input coordinate (h + 0.5) * stride - 0.5.
    return (keypoints + 0.5) * scale - 0.5, visibility


def open_hand(seed: int = 0) -> np.ndarray:
    """A plausible hand on a 32 x 32 heatmap: fingers fanning upwards from a wrist at (16, 28)."""
    rng = np.random.default_rng(seed)
    keypoints = np.zeros((21, 2))
    keypoints[WRIST] = [16.0, 28.0]
    for f, joints in enumerate(FINGERS.values()):
        angle = math.radians(-150 + 30 * f)
        direction = np.array([math.cos(angle), math.sin(angle)])
        for level, j in enumerate(joints):
            keypoints[j] = keypoints[WRIST] + direction * (6 + 5 * level) + rng.uniform(-0.3, 0.3, 2)
    return keypoints


def test_ldm_of_one_horizontal_bone_by_hand():
    keypoints, visibility = one_bone()
    encoded = LimbMaskCodec(8, 8, mode="ldm", groups="G1", width=1.0).encode(keypoints, visibility)
    expected = np.zeros((8, 8), dtype=np.float32)
    expected[1:4, 1:6] = 1  # within 1 pixel of the segment from (1, 2) to (5, 2)...
    expected[2, 0] = expected[2, 6] = 1  # ...and the round caps' tips, exactly 1 from the ends
    assert encoded["masks"].shape == (1, 8, 8) and encoded["masks"].dtype == np.float32
    assert np.array_equal(encoded["masks"][0], expected)
    assert np.allclose(encoded["weights"], [1 / 20])


def test_lpm_of_one_horizontal_bone_by_hand():
    keypoints, visibility = one_bone()
    mask = LimbMaskCodec(8, 8, mode="lpm", groups="G1", width=1.0).encode(keypoints, visibility)["masks"][0]
    assert mask[2, 3] == 1.0  # on the bone
    assert mask[3, 3] == pytest.approx(math.exp(-1 / 2))  # 1 px beside it
    assert mask[4, 3] == pytest.approx(math.exp(-4 / 2))  # 2 px beside it
    assert mask[2, 7] == pytest.approx(math.exp(-4 / 2))  # 2 px beyond its end
    assert mask[3, 6] == pytest.approx(math.exp(-2 / 2))  # sqrt(2) px from its end, diagonally
    wide = LimbMaskCodec(8, 8, mode="lpm", groups="G1", width=2.0).encode(keypoints, visibility)["masks"][0]
    assert wide[3, 3] == pytest.approx(math.exp(-1 / 8))


def test_masks_land_on_the_same_heatmap_pixels_at_any_stride():
    for stride in (2, 4):
        keypoints, visibility = one_bone(scale=stride)
        codec = LimbMaskCodec(8 * stride, 8, mode="lpm", groups="G1")
        reference = LimbMaskCodec(8, 8, mode="lpm", groups="G1").encode(*one_bone())["masks"]
        assert np.allclose(codec.encode(keypoints, visibility)["masks"], reference)


def test_g1g6_channels_and_weights_of_one_palm_bone():
    keypoints, visibility = one_bone()
    codec = LimbMaskCodec(8, 8, mode="ldm", groups="G1G6")
    assert codec.channel_names == ("hand", "thumb", "index", "middle", "ring", "pinky", "palm")
    encoded = codec.encode(keypoints, visibility)
    masks = encoded["masks"]
    assert masks.shape == (7, 8, 8)
    assert np.array_equal(masks[0], masks[6])  # the bone is the hand's only one, and a palm bone
    assert masks[0].sum() == 17
    assert not masks[1:6].any()
    assert np.allclose(encoded["weights"], [1 / 20, 0, 0, 0, 0, 0, 1 / 5])
    six = LimbMaskCodec(8, 8, mode="ldm", groups="g6").encode(keypoints, visibility)
    assert np.array_equal(six["masks"], masks[1:]) and np.array_equal(six["weights"], encoded["weights"][1:])


def test_whole_hand_is_the_union_of_the_six_groups():
    codec = LimbMaskCodec(32, 32, mode="lpm", groups="G1G6")
    masks = codec.encode(open_hand(), np.full(21, 2))["masks"]
    assert np.allclose(masks[0], masks[1:].max(axis=0))
    assert np.all(masks.max(axis=(-2, -1)) > 0.9)  # every group is drawn
    # Fingers fan out: the thumb's and the pinky's masks hardly overlap.
    assert np.minimum(masks[1], masks[5]).max() < 0.1


def test_bones_with_an_unlabelled_end_are_left_out():
    keypoints = open_hand()
    visibility = np.full(21, 2)
    visibility[FINGERS["index"][3]] = 0  # index tip: drops the bone dip -> tip only
    keypoints[FINGERS["index"][3]] = np.nan
    codec = LimbMaskCodec(32, 32, mode="ldm", groups="G1G6")
    full = codec.encode(open_hand(), np.full(21, 2))
    partial = codec.encode(keypoints, visibility)
    assert np.allclose(partial["weights"], [19 / 20, 1, 2 / 3, 1, 1, 1, 1])
    assert np.array_equal(partial["masks"][1], full["masks"][1])
    assert partial["masks"][2].sum() < full["masks"][2].sum()
    x, y = np.round(open_hand()[FINGERS["index"][3]]).astype(int)
    assert full["masks"][2, y, x] == 1 and partial["masks"][2, y, x] == 0


def test_batched_encode_equals_per_sample():
    codec = LimbMaskCodec(64, 32, mode="lpm", groups="G1G6", width=1.5)
    keypoints = np.stack([open_hand(s) * 2 + 0.5 for s in range(3)])
    visibility = np.full((3, 21), 2)
    visibility[1, 7] = 0
    batched = codec.encode(keypoints, visibility)
    assert batched["masks"].shape == (3, 7, 32, 32)
    for i in range(3):
        single = codec.encode(keypoints[i], visibility[i])
        assert np.allclose(single["masks"], batched["masks"][i])
        assert np.allclose(single["weights"], batched["weights"][i])


def test_limb_mask_codec_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        LimbMaskCodec(32, 32, mode="paf")
    with pytest.raises(ValueError, match="groups"):
        LimbMaskCodec(32, 32, groups="G20")
    with pytest.raises(ValueError, match="width"):
        LimbMaskCodec(32, 32, width=0)
    with pytest.raises(ValueError, match="21, 2"):
        LimbMaskCodec(32, 32).encode(np.zeros((20, 2)), np.ones(20))
