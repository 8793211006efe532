"""The whole-body hand stage: hand boxes from the arms, the mirror round trip of left hands through
the Predictor (exact, with the fake estimator that reads each crop's geometry off the image,
:mod:`geometry_reading`), the fields written into person records, wrist orientation, the command
line, and the COCO-WholeBody format sample (skipped where ../shared/data is absent)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from handpose.cli.main import main
from handpose.data.readers import read_dataset
from handpose.estimators import HeatmapEstimator
from handpose.evaluation.wholebody import evaluate_wholebody_sample
from handpose.inference.predictor import Predictor
from handpose.inference.weights import save_weights
from handpose.skeleton import FINGERS, MCPS, NUM_JOINTS, WRIST
from handpose.structures import HandPrediction, keypoint_box
from handpose.wholebody.hand_boxes import (
    ENLARGE,
    HAND_CENTRE_BEYOND_WRIST,
    HAND_SIDE_PER_FOREARM,
    HAND_SIDE_PER_PERSON,
    HAND_SIDE_PER_TORSO,
    WRIST_ONLY_SPREAD,
    forearm_box,
    hand_boxes,
    refine_with_detections,
)
from handpose.wholebody.orientation import hand_orientation, hand_rotation
from handpose.wholebody.run import HAND_BOX_MARGIN, run_wholebody

from geometry_reading import GeometryReadingEstimator, coordinate_image

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "coco_style_samples" / "coco_wholebody"


def coco17(joints: dict[int, tuple[float, float]], flag: float = 2.0) -> list[float]:
    """Flat COCO-17 keypoints with the given joints labelled and the rest not."""
    flat = [0.0] * 51
    for index, (x, y) in joints.items():
        flat[3 * index : 3 * index + 3] = [float(x), float(y), flag]
    return flat


#: A person with both forearms: left elbow -> wrist (20, 30), right one straight down 60 px.
ARMS = {7: (60.0, 40.0), 9: (80.0, 70.0), 8: (150.0, 40.0), 10: (150.0, 100.0)}


def square(centre: Sequence[float], side: float) -> tuple[float, float, float, float]:
    x, y = centre
    return (x - side / 2, y - side / 2, x + side / 2, y + side / 2)


def upright_hand(wrist: Sequence[float], size: float, thumb_right: bool = True) -> np.ndarray:
    """21 image points of a hand with the fingers up, the index MCP towards image right (a right
    hand showing its palm) or left."""
    sign = 1.0 if thumb_right else -1.0
    points = np.zeros((NUM_JOINTS, 2))
    points[WRIST] = (0.0, 0.0)
    for k, finger in enumerate(("index", "middle", "ring", "pinky")):
        base = np.array([sign * (0.3 - 0.2 * k) * size, -0.5 * size])
        points[list(FINGERS[finger])] = [base + (0.0, -0.12 * size * j) for j in range(4)]
    points[list(FINGERS["thumb"])] = [(sign * (0.3 + 0.1 * j) * size, -0.1 * size * (j + 1)) for j in range(4)]
    return points + np.asarray(wrist, dtype=np.float64)


# --- hand boxes -------------------------------------------------------------------------------


def test_a_forearm_gives_a_square_box_beyond_the_wrist_along_it_with_the_arms_side():
    left, right = hand_boxes({"keypoints": coco17(ARMS)})
    length = np.hypot(20.0, 30.0)
    left_centre = np.array([80.0, 70.0]) + HAND_CENTRE_BEYOND_WRIST * np.array([20.0, 30.0])
    assert (left.side, left.finder) == ("left", "forearm")
    assert left.box == pytest.approx(square(left_centre, ENLARGE * HAND_SIDE_PER_FOREARM * length))
    assert (right.side, right.finder) == ("right", "forearm")
    assert right.box == pytest.approx(
        square((150.0, 100.0 + HAND_CENTRE_BEYOND_WRIST * 60.0), ENLARGE * HAND_SIDE_PER_FOREARM * 60.0)
    )
    # COCO-WholeBody's 133 keypoints, nested: the body part gives the same boxes
    wholebody = np.zeros((133, 3))
    wholebody[:17] = np.reshape(coco17(ARMS), (17, 3))
    assert hand_boxes({"keypoints": wholebody.tolist()}) == [left, right]


def test_without_an_elbow_the_box_surrounds_the_wrist_sized_by_the_torso_or_the_person():
    torso = {5: (100.0, 50.0), 11: (100.0, 150.0), 9: (120.0, 160.0)}  # left shoulder, hip, wrist
    (box,) = hand_boxes({"keypoints": coco17(torso)})
    assert box.finder == "wrist" and box.side == "left"
    assert box.box == pytest.approx(square((120.0, 160.0), WRIST_ONLY_SPREAD * HAND_SIDE_PER_TORSO * 100.0))
    (box,) = hand_boxes({"keypoints": coco17({9: (120.0, 160.0)}), "bbox": [0, 0, 80, 200]})
    assert box.box == pytest.approx(square((120.0, 160.0), WRIST_ONLY_SPREAD * HAND_SIDE_PER_PERSON * 200.0))


def test_a_person_without_arm_keypoints_has_no_hand_box_and_scores_below_the_threshold_do_not_count():
    assert hand_boxes({"keypoints": coco17({0: (10.0, 10.0), 5: (20.0, 30.0)})}) == []
    assert hand_boxes({"keypoints": coco17(ARMS, flag=0.2)}) == []
    assert len(hand_boxes({"keypoints": coco17(ARMS, flag=0.2)}, min_score=0.1)) == 2


def test_hand_boxes_and_hand_keypoints_of_the_input_come_first_unless_flagged_invalid():
    hand = upright_hand((300.0, 300.0), 40.0)
    kpts = np.column_stack([hand, np.full(NUM_JOINTS, 2.0)]).ravel().tolist()
    record = {"keypoints": coco17(ARMS), "lefthand_box": [10, 20, 30, 40], "righthand_kpts": kpts}
    left, right = hand_boxes(record)
    assert (left.finder, left.box) == ("hand_box", (10.0, 20.0, 40.0, 60.0))
    assert (right.finder, right.box) == ("hand_kpts", pytest.approx(tuple(keypoint_box(hand))))
    left, right = hand_boxes({**record, "lefthand_valid": False, "righthand_valid": False})
    assert left.finder == right.finder == "forearm"
    wholebody = np.zeros((133, 3))
    wholebody[:17] = np.reshape(coco17(ARMS), (17, 3))
    wholebody[91:112] = np.column_stack([hand, np.full(NUM_JOINTS, 0.9)])
    left, right = hand_boxes({"keypoints": wholebody.ravel().tolist()})
    assert (left.finder, right.finder) == ("hand_kpts", "forearm")


def test_malformed_keypoints_are_a_clear_error():
    with pytest.raises(ValueError, match="COCO-17"):
        hand_boxes({"keypoints": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="no 'keypoints'"):
        hand_boxes({"bbox": [0, 0, 1, 1]})


def test_a_detected_hand_inside_a_body_box_replaces_it_keeping_the_arms_side():
    left, right = hand_boxes({"keypoints": coco17(ARMS)})
    inside_left = (80.0, 72.0, 96.0, 88.0)
    detections = [(inside_left, "right", 0.9), ((0.0, 0.0, 5.0, 5.0), "left", 0.99)]
    refined = refine_with_detections([left, right], detections)
    assert refined[0].box == inside_left and refined[0].finder == "detector" and refined[0].side == "left"
    assert refined[1] == right


# --- the mirror round trip and the records ----------------------------------------------------


def write_people(path: Path, annotations: list[dict], images: list[dict]) -> Path:
    path.write_text(json.dumps({"images": images, "annotations": annotations}))
    return path


def test_a_left_hand_is_estimated_mirrored_and_comes_back_in_the_image_pixels(tmp_path: Path):
    elbow, wrist = (60.0, 40.0), (80.0, 70.0)
    box = forearm_box(elbow, wrist)
    truth = (box[:2] + box[2:]) / 2 + np.random.default_rng(0).uniform(-9, 9, (NUM_JOINTS, 2))
    estimator = GeometryReadingEstimator(truth[None], padding=1.5)
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "frame.png"), cv2.cvtColor(coordinate_image(0), cv2.COLOR_RGB2BGR))
    people = write_people(
        tmp_path / "people.json",
        [{"id": 5, "image_id": 1, "keypoints": coco17({7: elbow, 9: wrist})}],
        [{"id": 1, "file_name": "frame.png"}],
    )
    summary = run_wholebody(
        Predictor(estimator=estimator, finder="whole_image"), people, tmp_path / "images", tmp_path / "out", progress=False
    )
    assert summary["hands"] == 1 and summary["hands_by_finder"] == {"forearm": 1}
    assert estimator.mirrored == {0: True}  # the network saw it as a right hand
    (record,) = json.loads((tmp_path / "out" / "people.json").read_text())["annotations"]
    keypoints = np.reshape(record["lefthand_kpts"], (NUM_JOINTS, 3))[:, :2]
    assert np.abs(keypoints - truth).max() < 0.05  # Gaussian decoding (0.03) and 2-decimal rounding
    # The mirror and its inverse add nothing: mirrored or not, the same hand comes back to 1e-3 px.
    predictor = Predictor(estimator=estimator, finder="whole_image")
    (as_left,) = predictor(coordinate_image(0), boxes=[box], sides=["left"])
    (as_right,) = predictor(coordinate_image(0), boxes=[box], sides=["right"])
    assert np.abs(as_left.keypoints - as_right.keypoints).max() < 1e-3
    assert record["righthand_valid"] is False


class RecordingPredictor:
    """Answers each box with an upright hand filling it (index MCP to the image's right) and
    records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[list, list]] = []

    def __call__(self, image: np.ndarray, boxes=None, sides=None) -> list[HandPrediction]:
        self.calls.append((list(boxes), list(sides)))
        found = []
        for (x0, y0, x1, y1), side in zip(boxes, sides):
            size = y1 - y0
            keypoints = upright_hand(((x0 + x1) / 2, y1 - 0.05 * size), size / 1.8)
            scores = np.linspace(0.5, 0.7, NUM_JOINTS)
            found.append(HandPrediction(keypoint_box(keypoints), keypoints, scores, side, 1.0, finder="boxes"))
        return found


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(folder / "a.jpg"), rng.integers(0, 255, (220, 240, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "000000000007.png"), rng.integers(0, 255, (200, 200, 3), dtype=np.uint8))
    return folder


def test_one_call_per_image_for_all_hands_and_the_fields_written_flattened(tmp_path: Path, images: Path):
    wholebody = np.zeros((133, 3))
    wholebody[:17] = np.reshape(coco17(ARMS), (17, 3))
    annotations = [
        {"id": 1, "image_id": 1, "keypoints": coco17(ARMS)},
        {"id": 2, "image_id": 1, "keypoints": wholebody.ravel().tolist()},
        {"id": 3, "image_id": 1, "keypoints": coco17({0: (50.0, 20.0)})},  # no arms
        {"id": 4, "image_id": 7, "keypoints": coco17({8: (100.0, 60.0), 10: (100.0, 120.0)})},
    ]
    people = write_people(
        tmp_path / "people.json",
        annotations,
        [{"id": 1, "file_name": "a.jpg"}, {"id": 7, "file_name": "000000000007.png"}],
    )
    predictor = RecordingPredictor()
    summary = run_wholebody(predictor, people, images, tmp_path / "out", save_overlays=True, progress=False)
    assert [sides for _, sides in predictor.calls] == [["left", "right", "left", "right"], ["right"]]
    assert summary == {
        "output": str(tmp_path / "out" / "people.json"), "images": 2, "people": 4, "missing_images": 0,
        "bad_records": 0, "overlays": 2, "hands": 5, "hands_by_finder": {"forearm": 5},
    }  # fmt: skip
    first, second, armless, other = json.loads((tmp_path / "out" / "people.json").read_text())["annotations"]
    (expected,) = RecordingPredictor()(np.zeros((1, 1, 3)), [predictor.calls[0][0][0]], ["left"])
    triplets = np.reshape(first["lefthand_kpts"], (NUM_JOINTS, 3))  # 21 x [x, y, score], flattened
    assert triplets[:, :2] == pytest.approx(expected.keypoints, abs=0.005)
    assert triplets[:, 2] == pytest.approx(expected.keypoint_scores, abs=5e-5)
    x0, y0, x1, y1 = keypoint_box(expected.keypoints, margin=HAND_BOX_MARGIN)
    assert first["lefthand_box"] == pytest.approx([x0, y0, x1 - x0, y1 - y0], abs=0.01)
    assert first["lefthand_valid"] is True and first["lefthand_finder"] == "forearm"
    assert first["lefthand_orientation"] == {"in_plane_deg": 0.0, "facing": "back", "source": "2d"}
    assert first["righthand_orientation"] == {"in_plane_deg": 0.0, "facing": "palm", "source": "2d"}
    # 133 keypoints: the hand part now holds the estimated hands, still flat
    assert len(second["keypoints"]) == 399 and second["keypoints"][91 * 3 : 112 * 3] == second["lefthand_kpts"]
    assert second["keypoints"][112 * 3 : 133 * 3] == second["righthand_kpts"]
    for side in ("left", "right"):
        assert armless[f"{side}hand_valid"] is False and armless[f"{side}hand_kpts"] == [0.0] * 63
        assert armless[f"{side}hand_box"] == [0.0] * 4 and armless[f"{side}hand_orientation"] is None
    assert other["righthand_valid"] is True and other["lefthand_valid"] is False
    assert (tmp_path / "out" / "overlays" / "a.jpg").is_file() and (
        tmp_path / "out" / "overlays" / "000000000007.jpg"
    ).is_file()


def test_missing_images_and_bad_records_are_named_counted_and_left_untouched(tmp_path: Path, images: Path, capsys):
    annotations = [
        {"id": 1, "image_id": 1, "keypoints": coco17(ARMS)},
        {"id": 2, "image_id": 1, "keypoints": [1, 2]},
        {"id": 3, "image_id": 99, "keypoints": coco17(ARMS)},
        {"id": 4, "image_id": 2, "keypoints": coco17(ARMS)},
    ]
    images_list = [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "gone.jpg"}]
    people = write_people(tmp_path / "people.json", annotations, images_list)
    summary = run_wholebody(RecordingPredictor(), people, images, tmp_path / "out", progress=False)
    assert (summary["bad_records"], summary["missing_images"], summary["people"]) == (2, 1, 1)
    err = capsys.readouterr().err
    assert "record 1 (image a.jpg)" in err and "image_id 99 is not among" in err and "gone.jpg" in err
    written = json.loads((tmp_path / "out" / "people.json").read_text())["annotations"]
    assert written[0]["lefthand_valid"] is True
    assert written[1:] == annotations[1:]


def test_a_list_of_results_finds_images_by_file_name_or_by_image_id(tmp_path: Path, images: Path, capsys):
    results = [
        {"image_id": 7, "category_id": 1, "keypoints": coco17(ARMS), "score": 0.9},
        {"image_id": 8, "category_id": 1, "keypoints": coco17(ARMS), "score": 0.9},
        {"file_name": "a.jpg", "keypoints": coco17(ARMS)},
    ]
    people = tmp_path / "results.json"
    people.write_text(json.dumps(results))
    summary = run_wholebody(RecordingPredictor(), people, images, tmp_path / "out", progress=False)
    assert (summary["images"], summary["hands"], summary["missing_images"]) == (2, 4, 1)
    assert "no image file named by image_id 8" in capsys.readouterr().err
    written = json.loads((tmp_path / "out" / "results.json").read_text())
    assert written[0]["lefthand_valid"] and "lefthand_valid" not in written[1] and written[2]["righthand_valid"]


# --- orientation ------------------------------------------------------------------------------


def hand_3d() -> np.ndarray:
    """A flat right hand in camera axes (x right, y down), fingers up, palm facing the camera."""
    points = np.zeros((NUM_JOINTS, 3))
    points[:, :2] = upright_hand((0.0, 0.0), 100.0) - upright_hand((0.0, 0.0), 100.0)[WRIST]
    return points


def test_3d_rotation_is_identity_for_an_upright_palm_and_follows_any_turn():
    points = hand_3d()
    assert hand_rotation(points, "right") == pytest.approx(np.eye(3))
    mirrored = points * (-1.0, 1.0, 1.0)
    assert hand_rotation(mirrored, "left") == pytest.approx(np.eye(3))
    turn = cv2.Rodrigues(np.array([0.3, -0.8, 0.5]))[0]
    assert hand_rotation(points @ turn.T, "right") == pytest.approx(turn)
    record = hand_orientation(
        HandPrediction(np.zeros(4), points[:, :2] + 200, np.ones(NUM_JOINTS), "right", keypoints_3d=points @ turn.T)
    )
    assert record["source"] == "3d" and np.array(record["axis_angle"]) == pytest.approx([0.3, -0.8, 0.5], abs=1e-4)
    half_turn = cv2.Rodrigues(np.array([0.0, np.pi, 0.0]))[0]  # about the vertical: the back shows
    back = hand_orientation(
        HandPrediction(
            np.zeros(4), points[:, :2] + 200, np.ones(NUM_JOINTS), "right", keypoints_3d=points @ half_turn.T
        )
    )
    assert back["facing"] == "back"


def test_2d_orientation_gives_the_in_plane_angle_and_the_palms_facing_from_the_thumbs_side():
    upright = upright_hand((100.0, 200.0), 60.0)
    prediction = lambda points, side: HandPrediction(np.zeros(4), points, np.ones(NUM_JOINTS), side)
    assert hand_orientation(prediction(upright, "right")) == {"in_plane_deg": 0.0, "facing": "palm", "source": "2d"}
    assert hand_orientation(prediction(upright, "left"))["facing"] == "back"
    pointing_left = (upright - upright[WRIST]) @ np.array([[0.0, 1.0], [-1.0, 0.0]]).T + upright[WRIST]
    assert hand_orientation(prediction(pointing_left, "right"))["in_plane_deg"] == pytest.approx(90.0)
    edge_on = upright.copy()
    edge_on[list(MCPS), 0] = upright[WRIST, 0]
    assert hand_orientation(prediction(edge_on, "right"))["facing"] is None
    assert hand_orientation(prediction(upright, None))["facing"] is None


# --- the command line -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    estimator = HeatmapEstimator(
        {"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 16}, {"input_size": 64}
    )
    return save_weights(estimator, tmp_path_factory.mktemp("weights") / "tiny.pt")


def test_the_command_writes_hands_into_the_people_file(tmp_path: Path, images: Path, tiny_weights: Path, capsys):
    people = write_people(
        tmp_path / "people.json",
        [{"id": 1, "image_id": 1, "keypoints": coco17(ARMS)}, {"id": 2, "image_id": 1, "keypoints": coco17({})}],
        [{"id": 1, "file_name": "a.jpg"}],
    )
    out = tmp_path / "out"
    command = ["wholebody", "--people", str(people), str(images), "--weights", str(tiny_weights), "--out", str(out),
               "--detector", "none"]  # fmt: skip
    assert main([*command, "--save-overlays"]) == 0
    assert "2 people in 1 images, 2 hands (boxes from: 2 forearm)" in capsys.readouterr().out
    armed, armless = json.loads((out / "people.json").read_text())["annotations"]
    assert len(armed["lefthand_kpts"]) == len(armed["righthand_kpts"]) == 63 and armed["righthand_valid"] is True
    assert armless["lefthand_valid"] is False and (out / "overlays" / "a.jpg").is_file()
    assert main([*command[:3], str(images / "a.jpg"), *command[4:]]) == 0  # one image of the folder
    write_people(people, [{"id": 1, "image_id": 3, "keypoints": coco17(ARMS)}], [{"id": 3, "file_name": "nope.jpg"}])
    assert main(command) == 1
    capsys.readouterr()
    assert main([*command[:2], str(tmp_path / "missing.json"), *command[3:]]) == 2
    assert "people file is missing" in capsys.readouterr().err
    assert main([*command[:3], str(tmp_path / "absent"), *command[4:]]) == 2
    assert "no such image or folder" in capsys.readouterr().err
    assert main([*command, "--detector", str(tiny_weights)]) == 2  # a pose network finds no hands
    assert "not a hand detector" in capsys.readouterr().err


# --- the COCO-WholeBody format sample ---------------------------------------------------------


class LabelOracle:
    """Answers each box with the labelled hand of its side nearest to the box's centre (from the
    image's size, which tells the sample's 4 images apart), else with a point hand at the centre."""

    def __init__(self) -> None:
        self.hands = read_dataset("coco_wholebody", SAMPLE / "test_coco_wholebody.json").samples
        self.sizes = {tuple(s.extras["image_size"]): s.extras["image_id"] for s in self.hands}

    def __call__(self, image: np.ndarray, boxes=None, sides=None) -> list[HandPrediction]:
        image_id = self.sizes.get((image.shape[1], image.shape[0]))
        found = []
        for box, side in zip(boxes, sides):
            centre = (np.asarray(box[:2]) + np.asarray(box[2:])) / 2
            near = [h for h in self.hands if h.extras["image_id"] == image_id and h.hand_side == side]
            near = [h for h in near if np.linalg.norm((h.box[:2] + h.box[2:]) / 2 - centre) < (box[2] - box[0])]
            if near:
                best = min(near, key=lambda h: np.linalg.norm((h.box[:2] + h.box[2:]) / 2 - centre))
                keypoints, scores = best.keypoints_2d, np.ones(NUM_JOINTS)
            else:
                keypoints, scores = (
                    np.tile(centre, (NUM_JOINTS, 1)) + np.arange(NUM_JOINTS)[:, None] * 0.1,
                    np.full(NUM_JOINTS, 0.1),
                )
            found.append(HandPrediction(keypoint_box(keypoints), keypoints, scores, side, 1.0))
        return found


@pytest.mark.skipif(not SAMPLE.is_dir(), reason=f"shared data not found at {SAMPLE}")
def test_the_sample_scores_perfect_labels_perfectly_and_finds_its_hands_from_the_body():
    report = evaluate_wholebody_sample(LabelOracle(), SAMPLE)
    assert (report["images"], report["people"], report["labelled_hands"]) == (4, 14, 10)
    assert report["found_hands"] == 10 and report["missed_joints"] == 0
    assert report["mean_keypoint_error_px"] < 0.01
    assert report["box_recall"] >= 0.9 and report["input_box_coverage"] > 0.8
    assert report["hand_ap"]["AP"] == pytest.approx(1.0)
    assert set(report["hands_by_finder"]) == {"forearm", "wrist"}
    assert report["hand_box_side_px"]["min"] >= 10 and report["hand_box_side_px"]["max"] <= 32


@pytest.mark.skipif(not SAMPLE.is_dir(), reason=f"shared data not found at {SAMPLE}")
def test_the_sample_with_its_annotated_hand_boxes_given_looks_in_them():
    report = evaluate_wholebody_sample(LabelOracle(), SAMPLE, boxes="annotated")
    assert report["boxes"] == "annotated" and report["hands_by_finder"]["hand_box"] == report["labelled_hands"] == 10
    assert report["input_box_recall"] == 1.0 and report["mean_keypoint_error_px"] < 0.01
    assert report["hand_ap"]["AP"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="boxes must be one of body, annotated"):
        evaluate_wholebody_sample(LabelOracle(), SAMPLE, boxes="detector")
