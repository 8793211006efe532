import numpy as np

from handpose.metrics import evaluate_2d, format_report_table
from handpose.metrics.mirroring import INDEX_MCP, MIN_FACING_SINE, PINKY_MCP, mirrored_hands, palm_turn
from handpose.skeleton import FINGERS, WRIST


def open_hand(centre_x: float = 100.0) -> np.ndarray:
    """An upright open hand facing the camera: fingers fanned upwards, thumb on the image's left."""
    hand = np.zeros((21, 2))
    hand[WRIST] = [centre_x, 200.0]
    for k, joints in enumerate(FINGERS.values()):
        angle = np.radians(-50.0 + 25.0 * k)  # thumb leans left, little finger right
        for step, joint in enumerate(joints, start=1):
            hand[joint] = hand[WRIST] + 30.0 * step * np.array([np.sin(angle), -np.cos(angle)])
    return hand


def mirrored(hand: np.ndarray) -> np.ndarray:
    """The same hand with its thumb side and little-finger side swapped (mirrored about the wrist)."""
    out = hand.copy()
    out[:, 0] = 2.0 * hand[WRIST, 0] - hand[:, 0]
    return out


def test_a_hand_read_mirror_wise_is_counted_and_a_right_one_is_not():
    gt = np.stack([open_hand(), open_hand(300.0), open_hand(500.0)])
    pred = np.stack([gt[0] + 3.0, mirrored(gt[1]), gt[2]])
    result = mirrored_hands(pred, gt, np.ones((3, 21), bool))
    assert result["counted"] == 3 and result["mirrored"] == 1
    assert np.isclose(result["fraction"], 1 / 3)
    assert np.sign(palm_turn(gt)[1]) == -np.sign(palm_turn(pred)[1])


def test_edge_on_unlabelled_and_missing_hands_are_not_counted():
    gt = np.stack([open_hand()] * 3)
    gt[0, INDEX_MCP] = gt[0, WRIST] + [0.0, -50.0]  # index and little-finger knuckles in one line from the wrist:
    gt[0, PINKY_MCP] = gt[0, WRIST] + [0.0, -40.0]  # the palm is seen edge-on
    assert abs(palm_turn(gt)[0]) < MIN_FACING_SINE
    labelled = np.ones((3, 21), bool)
    labelled[1, PINKY_MCP] = False
    pred = np.stack([mirrored(h) for h in gt])
    pred[2, INDEX_MCP] = np.nan
    result = mirrored_hands(pred, gt, labelled)
    assert result == {"counted": 0, "mirrored": 0, "fraction": None, "min_facing_sine": MIN_FACING_SINE}


def test_the_2d_report_and_its_table_carry_the_mirrored_fraction():
    gt = np.stack([open_hand(), open_hand(300.0)])
    pred = np.stack([mirrored(gt[0]), gt[1]])
    report = evaluate_2d(pred, gt, np.ones((2, 21), bool))
    assert report["mirrored_hands"]["fraction"] == 0.5
    header, _, row = format_report_table({"model": report}).splitlines()
    assert header.rstrip(" |").endswith("mirrored hands") and row.rstrip(" |").endswith("0.500")
