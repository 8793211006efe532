import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handpose.joint_orders import ORDERS, TWO_HAND_SIDES, from_canonical, get_order, hand_joints, to_canonical
from handpose.skeleton import JOINT_NAMES

CANONICAL_ALREADY = ("canonical", "freihand", "coco_wholebody", "panoptic", "onehand10k", "mediapipe")


def _labelled(order):
    """(J, 1) array holding each native joint's own index, to see where it lands."""
    return np.arange(get_order(order).num_joints, dtype=float)[:, None]


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_permutation_is_a_permutation(order):
    joint_order = get_order(order)
    assert sorted(joint_order.permutation.tolist()) == list(range(joint_order.num_joints))


@settings(max_examples=25, deadline=None)
@given(order=st.sampled_from(sorted(ORDERS)), batch=st.integers(0, 3), dim=st.integers(1, 3), seed=st.integers(0, 1000))
def test_round_trips(order, batch, dim, seed):
    shape = (batch,) * (batch > 0) + (get_order(order).num_joints, dim)
    native = np.random.default_rng(seed).normal(size=shape)
    np.testing.assert_array_equal(from_canonical(to_canonical(native, order), order), native)
    np.testing.assert_array_equal(to_canonical(from_canonical(native, order), order), native)


@pytest.mark.parametrize("order", CANONICAL_ALREADY)
def test_canonical_orders_are_the_identity(order):
    np.testing.assert_array_equal(to_canonical(_labelled(order), order)[:, 0], np.arange(21))


def test_rhd_left_then_right_each_finger_tip_to_palm():
    canonical = to_canonical(_labelled("rhd"), "rhd")[:, 0]
    name = {n: i for i, n in enumerate(JOINT_NAMES)}
    assert canonical[name["wrist"]] == 0  # left wrist
    assert canonical[name["thumb_tip"]] == 1 and canonical[name["thumb_cmc"]] == 4
    assert canonical[name["index_tip"]] == 5 and canonical[name["index_mcp"]] == 8
    assert canonical[name["pinky_mcp"]] == 20
    assert canonical[21 + name["wrist"]] == 21  # right wrist
    assert canonical[21 + name["thumb_tip"]] == 22 and canonical[21 + name["pinky_mcp"]] == 41
    np.testing.assert_array_equal(to_canonical(_labelled("rhd_hand"), "rhd_hand")[:, 0], canonical[:21])


def test_interhand_right_then_left_tips_first_wrist_last():
    native = _labelled("interhand")
    right, left = hand_joints(native, "interhand", "right")[:, 0], hand_joints(native, "interhand", "left")[:, 0]
    assert right[0] == 20 and left[0] == 41  # wrists last in each hand
    assert right[4] == 0 and right[1] == 3  # thumb tip first, its base fourth
    assert right[8] == 4 and right[20] == 16 and right[17] == 19  # index tip; pinky tip and base
    assert left[4] == 21 and left[17] == 40
    np.testing.assert_array_equal(to_canonical(native, "interhand")[:, 0], np.concatenate([left, right]))
    assert TWO_HAND_SIDES == ("left", "right")


def test_stb_palm_in_the_wrist_slot_fingers_pinky_to_thumb():
    canonical = to_canonical(_labelled("stb"), "stb")[:, 0]
    assert canonical[0] == 0 and get_order("stb").root_joint == "palm_center"
    assert canonical[JOINT_NAMES.index("pinky_mcp")] == 1 and canonical[JOINT_NAMES.index("pinky_tip")] == 4
    assert canonical[JOINT_NAMES.index("index_mcp")] == 13
    assert canonical[JOINT_NAMES.index("thumb_cmc")] == 17 and canonical[JOINT_NAMES.index("thumb_tip")] == 20


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown joint order 'nyu'"):
        to_canonical(np.zeros((21, 2)), "nyu")
    with pytest.raises(ValueError, match=r"expected \(\.\.\., 42, D\)"):
        to_canonical(np.zeros((21, 2)), "rhd")
    with pytest.raises(ValueError, match="has hands"):
        hand_joints(np.zeros((21, 2)), "stb", "left")
