import numpy as np

from handpose import skeleton as sk


def test_joint_names_follow_canonical_order():
    assert sk.NUM_JOINTS == len(sk.JOINT_NAMES) == 21
    assert sk.JOINT_NAMES[:5] == ("wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip")
    assert sk.JOINT_NAMES[5:9] == ("index_mcp", "index_pip", "index_dip", "index_tip")
    assert sk.JOINT_NAMES[-1] == "pinky_tip"


def test_parents_form_a_tree_rooted_at_the_wrist():
    assert sk.PARENTS[0] == -1
    assert [sk.PARENTS[f[0]] for f in sk.FINGERS.values()] == [0] * 5
    assert sk.PARENTS[4] == 3 and sk.PARENTS[20] == 19
    assert len(sk.BONES) == 20
    assert all(p < c for p, c in sk.BONES)


def test_bone_lengths_on_a_straight_finger():
    kp = np.zeros((21, 3))
    kp[1:5, 0] = [1, 3, 6, 10]
    assert np.allclose(sk.bone_lengths(kp)[:4], [1, 2, 3, 4])


def test_colours_are_distinct_per_finger():
    bases = {sk.JOINT_COLORS[f[0]] for f in sk.FINGERS.values()}
    assert len(bases) == 5
