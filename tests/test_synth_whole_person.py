"""The generator's whole-person scenes (scene_kind="whole_person"): bodies whose arms end in the
generator's hands, their COCO-17 and COCO-WholeBody labels, the files written, the synthetic
whole-body evaluation, and the mixed hand-stage config."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from handpose.cli.main import main
from handpose.cli.synth import SCENE_KINDS as CLI_SCENE_KINDS
from handpose.data.readers import read_dataset
from handpose.estimators import HeatmapEstimator
from handpose.evaluation.wholebody import evaluate_synthetic_wholebody
from handpose.inference.predictor import Predictor
from handpose.inference.weights import load_estimator
from handpose.skeleton import NUM_JOINTS, WRIST
from handpose.structures import HandPrediction, keypoint_box
from handpose.synth import generate_dataset
from handpose.synth.cache import prepare_synth_set, synth_set_folder
from handpose.synth.hand_shape import sample_hand_shape
from handpose.synth.kinematics import forward_kinematics
from handpose.synth.poses import sample_pose
from handpose.synth.scene import SCENE_KINDS
from handpose.synth.surface import hand_frame_joints
from handpose.synth.whole_person import ARM, SMALL_HAND_PX, render_whole_person_scene
from handpose.synth.writers import wholebody_annotation_path
from handpose.train.build import build_estimator_from_config
from handpose.train.config import load_config

SIZE = 256
SCENES = [render_whole_person_scene(seed=21, index=i, size=SIZE) for i in range(30)]
PEOPLE = [(scene, person) for scene in SCENES for person in scene.people]
ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "wholebody" / "hand_stage_mixed.yaml"


def chirality(joints: np.ndarray) -> float:
    """+1 or -1: the handedness of a 3D hand, kept by rotations and flipped by a mirror (the thumb's
    CMC lies palmar of the MCP row, so these three bones span space)."""
    return float(
        np.sign(np.linalg.det(np.stack([joints[1] - joints[0], joints[5] - joints[0], joints[17] - joints[0]])))
    )


def test_each_labelled_hand_ends_its_persons_arm_on_the_persons_side():
    rng = np.random.default_rng(0)
    shape = sample_hand_shape(rng)
    rest = forward_kinematics(shape.chains, sample_pose(rng, shape).fingers)
    handedness = {side: chirality(hand_frame_joints(rest, side)) for side in ("left", "right")}
    assert handedness["left"] == -handedness["right"]
    checked = 0
    for scene, person in PEOPLE:
        for side, index in person.hands.items():
            hand = scene.hands[index]
            assert hand.side == side and chirality(hand.keypoints_3d) == handedness[side]
            _, elbow, wrist, _ = ARM[side]
            # the body's wrist is the hand's wrist keypoint
            assert np.abs(person.keypoints_2d[wrist] - hand.keypoints_2d[WRIST]).max() < 1e-6
            # the hand continues the forearm: the wrist bends less than 90 degrees
            forearm = person.keypoints_3d[wrist] - person.keypoints_3d[elbow]
            palm = hand.keypoints_3d[9] - hand.keypoints_3d[WRIST]
            assert np.dot(forearm, palm) > 0
            assert np.linalg.norm(forearm) == pytest.approx(1.4 * np.linalg.norm(palm) * 185 / 89, rel=0.25)
            checked += 1
    assert checked >= 20


def test_a_person_facing_the_camera_shows_its_left_side_on_the_images_right():
    facing = 0
    for _, person in PEOPLE:
        nose, left, right = person.keypoints_3d[[0, 5, 6]]
        if nose[2] < (left[2] + right[2]) / 2 - 50:  # the face is nearer than the shoulders
            assert person.keypoints_2d[5, 0] > person.keypoints_2d[6, 0]
            facing += 1
    assert facing >= 5


def test_boxes_hold_their_keypoints_and_flags_follow_coco():
    for scene, person in PEOPLE:
        x0, y0, x1, y1 = person.box
        assert 0 < person.area <= (x1 - x0) * (y1 - y0)
        assert np.all(person.flags[13:] == 0) and not np.isfinite(person.keypoints_3d[13:]).any()
        labelled = person.flags > 0
        uv = person.keypoints_2d[labelled]
        assert np.all((uv > -0.5) & (uv < SIZE - 0.5))
        for index in person.hands.values():
            hand = scene.hands[index]
            inside = ((hand.keypoints_2d >= 0) & (hand.keypoints_2d <= SIZE - 1)).all(axis=1)
            hx0, hy0, hx1, hy1 = hand.box
            points = hand.keypoints_2d[inside]
            assert np.all((points[:, 0] >= hx0) & (points[:, 0] <= hx1) & (points[:, 1] >= hy0) & (points[:, 1] <= hy1))
            assert hand.visible.sum() >= 6


def test_most_hands_are_small_and_people_vary():
    sides = np.array([np.max(hand.box[2:] - hand.box[:2]) for scene in SCENES for hand in scene.hands])
    low, high = SMALL_HAND_PX
    assert 0.6 <= np.mean((sides >= low - 3) & (sides <= high)) < 1.0
    assert sides.max() > high  # and some are large
    assert {len(scene.people) for scene in SCENES} >= {1, 2, 3}
    assert any(len(person.hands) < 2 for _, person in PEOPLE)  # an arm out of frame or hidden


def test_scenes_are_deterministic_per_seed_and_index():
    first, again = (render_whole_person_scene(5, 2, 96) for _ in range(2))
    assert np.array_equal(first.image, again.image)
    assert all(
        np.array_equal(a.keypoints_2d, b.keypoints_2d, equal_nan=True) for a, b in zip(first.people, again.people)
    )
    assert not np.array_equal(first.image, render_whole_person_scene(5, 3, 96).image)
    assert CLI_SCENE_KINDS == SCENE_KINDS and "whole_person" in SCENE_KINDS
    assert synth_set_folder(10, 0, 64, "c", scene_kind="whole_person").name == "synth-v1-n10-seed0-64px-whole_person"


def test_a_written_set_has_hands_for_training_and_people_for_the_whole_body_reader(tmp_path: Path):
    hands_file = generate_dataset(tmp_path, 6, size=128, seed=3, progress=False, scene_kind="whole_person")
    people_file = wholebody_annotation_path(hands_file)
    hands = read_dataset("coco", hands_file).samples
    wholebody = read_dataset("coco_wholebody", people_file).samples
    assert len(hands) == len(wholebody) > 0
    data = json.loads(people_file.read_text())
    for person in data["annotations"]:
        body = np.reshape(person["keypoints"], (17, 3))
        assert person["num_keypoints"] == np.count_nonzero(body[:, 2])
        for side in ("left", "right"):
            kpts = np.reshape(person[f"{side}hand_kpts"], (NUM_JOINTS, 3))
            if person[f"{side}hand_valid"]:
                assert kpts[WRIST, :2] == pytest.approx(body[ARM[side][2], :2], abs=2e-3)
            else:
                assert not kpts.any() and person[f"{side}hand_box"] == [0.0] * 4


def test_the_command_writes_whole_person_sets_in_the_coco_layout_only(tmp_path: Path, capsys):
    assert main(["synth", "--out", str(tmp_path), "--count", "2", "--size", "64", "--scene-kind", "whole_person"]) == 0
    assert (tmp_path / "train.json").is_file() and (tmp_path / "train_wholebody.json").is_file()
    capsys.readouterr()
    command = [
        "synth",
        "--out",
        str(tmp_path / "rhd"),
        "--count",
        "2",
        "--scene-kind",
        "whole_person",
        "--format",
        "rhd",
    ]
    assert main(command) == 2
    assert "needs --format coco" in capsys.readouterr().err


class FileOracle:
    """Answers each box with the labelled hand of its side nearest to the box's centre in the same
    image (told by its pixels), else with a point hand at the centre."""

    def __init__(self, people_file: Path) -> None:
        self.hands = read_dataset("coco_wholebody", people_file).samples
        self.image_ids = {_digest(hand.load_image()): hand.extras["image_id"] for hand in self.hands}

    def __call__(self, image: np.ndarray, boxes=None, sides=None) -> list[HandPrediction]:
        image_id = self.image_ids.get(_digest(image))
        found = []
        for box, side in zip(boxes, sides):
            centre = (np.asarray(box[:2]) + np.asarray(box[2:])) / 2
            near = [h for h in self.hands if h.extras["image_id"] == image_id and h.hand_side == side]
            near = [h for h in near if np.linalg.norm((h.box[:2] + h.box[2:]) / 2 - centre) < box[2] - box[0]]
            if near:
                best = min(near, key=lambda h: np.linalg.norm((h.box[:2] + h.box[2:]) / 2 - centre))
                keypoints, scores = best.keypoints_2d, np.ones(NUM_JOINTS)
            else:
                keypoints, scores = (
                    np.tile(centre, (NUM_JOINTS, 1)) + np.arange(NUM_JOINTS)[:, None],
                    np.full(NUM_JOINTS, 0.1),
                )
            found.append(HandPrediction(keypoint_box(keypoints), keypoints, scores, side, 1.0))
        return found


def _digest(image: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


def test_the_synthetic_evaluation_scores_labels_perfectly_and_a_network_finitely(tmp_path: Path):
    cache = tmp_path / "cache"
    oracle = FileOracle(wholebody_annotation_path(prepare_synth_set(3, 7, 128, cache, scene_kind="whole_person")))
    annotated = evaluate_synthetic_wholebody(oracle, 3, 7, cache, 128, boxes="annotated")
    assert annotated["synthetic"] == {"count": 3, "seed": 7, "size": 128}
    assert annotated["found_hands"] == annotated["labelled_hands"] > 0
    assert annotated["mean_keypoint_error_px"] < 0.01 and annotated["hand_ap"]["AP"] == pytest.approx(1.0)
    assert (
        annotated["input_box_recall"] == 1.0 and annotated["hands_by_finder"]["hand_box"] == annotated["labelled_hands"]
    )
    body = evaluate_synthetic_wholebody(oracle, 3, 7, cache, 128)
    assert set(body["hands_by_finder"]) <= {"forearm", "wrist"} and body["found_hands"] >= 1
    estimator = HeatmapEstimator(
        {"name": "mobilenetv2_pose", "width_mult": 0.25, "head_channels": 16}, {"input_size": 64}
    )
    network = evaluate_synthetic_wholebody(Predictor(estimator=estimator, finder="whole_image"), 3, 7, cache, 128)
    assert np.isfinite(network["hand_ap"]["AP"]) and np.isfinite(network["mean_keypoint_error_px"])


def test_the_mixed_hand_stage_config_mixes_sources_by_weight_and_fits_the_bundled_network():
    config = load_config(CONFIG)
    kinds = [(source.format, source.scene_kind) for source in config.data.train]
    assert kinds == [("synth", "hands"), ("synth", "whole_person")]
    assert all(source.weight > 0 for source in config.data.train) and config.data.samples_per_epoch
    assert config.data.val[0].scene_kind == "whole_person"
    assert "coco_wholebody" in CONFIG.read_text()  # the real source, for a user who has it
    estimator = build_estimator_from_config(config)
    bundled = load_estimator(config.init_from).spec()["kwargs"]  # the bundled weights it starts from
    assert {key: estimator.spec()["kwargs"][key] for key in ("network", "codec", "crop")} == {
        key: bundled[key] for key in ("network", "codec", "crop")
    }
