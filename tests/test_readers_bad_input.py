"""Bad input: a clear SampleError naming file, sample and problem; or, under policy="skip", a
counted skip with its reason. Never a silent drop."""

import pickle
import re
import tempfile

import numpy as np
import pytest

from handpose.data.check import check_dataset
from handpose.data.readers import read_dataset
from handpose.structures import SampleError

from native_fixtures import (
    edited_json,
    write_coco,
    write_coco_wholebody,
    write_freihand,
    write_panoptic_manual,
    write_rhd,
)


def _edit_annotation(path, index, **changes):
    with edited_json(path) as data:
        data["annotations"][index].update(changes)
    return data["images"][index]["file_name"], data["annotations"][index]["id"]


def _without_paths(message):
    """The message with file paths blanked, so that words in the test's tmp_path cannot match."""
    return re.sub(re.escape(tempfile.gettempdir()) + r"\S*", "<path>", message)


def _assert_error_then_skip(fmt, path, sample_id, problem, total, **options):
    with pytest.raises(SampleError) as raised:
        read_dataset(fmt, path, **options)
    message = str(raised.value)
    assert sample_id in message and problem in _without_paths(message)
    result = read_dataset(fmt, path, policy="skip", **options)
    assert [skipped_id for skipped_id, _ in result.skipped] == [sample_id]
    assert problem in _without_paths(result.skipped[0][1])
    assert len(result.samples) + len(result.skipped) == total  # nothing dropped silently
    return message


def test_missing_annotation_file_names_it(tmp_path):
    for fmt, path in [("coco", tmp_path / "nothing.json"), ("rhd", tmp_path), ("freihand", tmp_path)]:
        (tmp_path / "training").mkdir(exist_ok=True)
        with pytest.raises(SampleError) as raised:
            read_dataset(fmt, path, policy="skip")  # no annotations at all: even skip cannot go on
        assert str(tmp_path) in str(raised.value)
        assert "is missing" in _without_paths(str(raised.value))


def test_malformed_json_names_the_file(tmp_path):
    (tmp_path / "broken.json").write_text('{"images": [')
    with pytest.raises(SampleError, match="not valid JSON") as raised:
        read_dataset("coco", tmp_path / "broken.json")
    assert "broken.json" in str(raised.value)


def test_missing_image_file(tmp_path):
    path, expected = write_coco(tmp_path)
    (tmp_path / "images" / "0001.jpg").unlink()
    message = _assert_error_then_skip("coco", path, "images/0001.jpg#101", "is missing", len(expected))
    assert str(path) in message and "0001.jpg" in message


def test_truncated_image_found_by_the_image_check(tmp_path):
    path, expected = write_coco(tmp_path)
    image = tmp_path / "images" / "0002.jpg"
    image.write_bytes(image.read_bytes()[:100])
    result = read_dataset("coco", path)  # reading labels does not decode images
    with pytest.raises(SampleError) as raised:
        check_dataset(result, check_images=True, progress=False)
    assert "0002.jpg" in str(raised.value) and "truncated" in _without_paths(str(raised.value))
    report = check_dataset(result, check_images=True, policy="skip", progress=False)
    assert len(report.samples) == len(expected) - 1
    assert [sample_id for sample_id, _ in report.skipped] == ["images/0002.jpg#102"]
    with pytest.raises(SampleError) as raised:
        next(s for s in result.samples if s.sample_id == "images/0002.jpg#102").load_image()
    assert "truncated" in _without_paths(str(raised.value))


def test_image_whose_size_differs_from_the_label(tmp_path):
    import cv2

    path, _ = write_coco(tmp_path)
    cv2.imwrite(str(tmp_path / "images" / "0000.jpg"), np.zeros((50, 60, 3), np.uint8))
    report = check_dataset(read_dataset("coco", path), check_images=True, policy="skip", progress=False)
    assert "is 60x50 but its label says 256x256" in report.skipped[0][1]


@pytest.mark.parametrize(
    "keypoints, problem",
    [
        ([[1.0, 2.0, 2]] * 20, "shape (20, 3)"),
        ([1.0, 2.0] * 21, "shape (42,)"),
        ("not numbers", "not an array of numbers"),
    ],
)
def test_label_of_the_wrong_shape(tmp_path, keypoints, problem):
    path, expected = write_coco(tmp_path)
    file_name, ann_id = _edit_annotation(path, 1, keypoints=keypoints)
    _assert_error_then_skip("coco", path, f"{file_name}#{ann_id}", problem, len(expected))


def test_rhd_label_of_the_wrong_shape(tmp_path):
    expected = write_rhd(tmp_path)
    anno_path = tmp_path / "training" / "anno_training.pickle"
    annotations = pickle.loads(anno_path.read_bytes())
    annotations[0]["uv_vis"] = annotations[0]["uv_vis"][:21]
    anno_path.write_bytes(pickle.dumps(annotations))
    with pytest.raises(SampleError, match=r"uv_vis has shape \(21, 3\), expected \(42, 3\)") as raised:
        read_dataset("rhd", tmp_path)
    assert "training/00000/left" in str(raised.value) and "anno_training.pickle" in str(raised.value)
    result = read_dataset("rhd", tmp_path, policy="skip")
    assert {sample_id for sample_id, _ in result.skipped} == {"training/00000/left", "training/00000/right"}
    assert len(result.samples) == len(expected) - 2


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nan_or_infinite_keypoints(tmp_path, value):
    path, expected = write_coco(tmp_path)
    with edited_json(path) as data:
        data["annotations"][2]["keypoints"][3 * 8] = value  # index tip x (JSON written by Python allows NaN)
    _assert_error_then_skip("coco", path, "images/0002.jpg#102", "NaN or infinite values (index_tip)", len(expected))


def test_nan_in_freihand_3d(tmp_path):
    expected = write_freihand(tmp_path, num_labels=2)
    with edited_json(tmp_path / "training_xyz.json") as xyz:
        xyz[1][0][2] = float("nan")
    result = read_dataset("freihand", tmp_path, policy="skip")
    assert sorted(sample_id for sample_id, _ in result.skipped) == [f"training/{i:08d}" for i in (1, 3, 5, 7)]  # label 1, 4 looks
    assert all("NaN or infinite" in reason and "wrist" in reason for _, reason in result.skipped)
    assert len(result.samples) == len(expected) - 4


def test_nan_in_an_unlabelled_joint_is_harmless(tmp_path):
    path, expected = write_coco(tmp_path)
    with edited_json(path) as data:
        data["annotations"][0]["keypoints"][3 * 8 : 3 * 9] = [float("nan"), float("nan"), 0]
    result = read_dataset("coco", path)
    assert len(result.samples) == len(expected) and result.samples[0].visibility[8] == 0
    assert np.all(np.isfinite(result.samples[0].keypoints_2d))


def test_keypoints_far_outside_the_image(tmp_path):
    path, expected = write_coco(tmp_path)
    with edited_json(path) as data:
        data["annotations"][1]["keypoints"][3 * 12] = 5000.0  # middle tip x, image 256 wide
    _assert_error_then_skip("coco", path, "images/0001.jpg#101", "far outside the 256x256 image", len(expected))


def test_keypoints_slightly_outside_the_image_are_kept(tmp_path):
    path, expected = write_coco(tmp_path)
    with edited_json(path) as data:
        data["annotations"][1]["keypoints"][3 * 12] = -40.0  # a hand cut by the frame
    assert len(read_dataset("coco", path).samples) == len(expected)


def test_missing_hand_side_where_the_file_has_them(tmp_path):
    path, expected = write_coco(tmp_path)
    with edited_json(path) as data:
        del data["annotations"][0]["hand_type"]
    _assert_error_then_skip("coco", path, "images/0000.jpg#100", "hand_type (left/right) is missing", len(expected))


def test_coco_file_without_any_hand_side_reads_as_unknown(tmp_path):
    path, _ = write_coco(tmp_path)
    with edited_json(path) as data:
        for ann in data["annotations"]:
            del ann["hand_type"]
    assert {s.hand_side for s in read_dataset("coco", path).samples} == {None}


def test_panoptic_missing_is_left(tmp_path):
    expected = write_panoptic_manual(tmp_path, num_hands=2)
    label_path = tmp_path / "hand_labels" / "manual_train" / "000001_01_l.json"
    with edited_json(label_path) as label:
        del label["is_left"]
    message = _assert_error_then_skip("panoptic", tmp_path, "manual_train/000001_01_l", "is_left (the left/right flag) is missing", len(expected))
    assert "000001_01_l.json" in message


def test_coco_wholebody_missing_valid_flag(tmp_path):
    path, expected = write_coco_wholebody(tmp_path)
    with edited_json(path) as data:
        del data["annotations"][0]["righthand_valid"]
    _assert_error_then_skip("coco_wholebody", path, "000000000005.jpg#70/right", "righthand_valid is missing", len(expected))


def test_hand_without_labelled_keypoints(tmp_path):
    path, expected = write_coco(tmp_path)
    with edited_json(path) as data:
        data["annotations"][2]["keypoints"] = [0.0] * 63
    _assert_error_then_skip("coco", path, "images/0002.jpg#102", "no labelled keypoints", len(expected))


def test_unknown_policy_is_refused(tmp_path):
    path, _ = write_coco(tmp_path)
    with pytest.raises(ValueError, match="policy"):
        read_dataset("coco", path, policy="ignore")
