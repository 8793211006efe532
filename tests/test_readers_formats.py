"""Every reader on a tiny dataset in its native layout, written by the test itself."""


import numpy as np
import pytest

from handpose.data.readers import FORMATS, read_dataset
from handpose.data.readers.depth import read_depth_mm

from native_fixtures import (
    assert_read_as_expected,
    edited_json,
    write_coco,
    write_coco_wholebody,
    write_freihand,
    write_interhand,
    write_onehand10k,
    write_panoptic_manual,
    write_panopticdb,
    write_rhd,
    write_stb,
)


def test_every_documented_format_is_registered():
    assert set(FORMATS) == {"coco", "rhd", "freihand", "panoptic", "onehand10k", "stb", "interhand", "coco_wholebody"}


@pytest.mark.parametrize("nested", [False, True])
def test_coco_reads_keypoints_3d_intrinsics_side_and_extras(tmp_path, nested):
    path, expected = write_coco(tmp_path, nested=nested)
    result = read_dataset("coco", path)
    assert_read_as_expected(result.samples, expected)
    sample = result.samples[0]
    assert sample.K[0, 0] == 300.0 and sample.K[0, 2] == 128.0
    assert sample.extras["sequence"] == "seq0" and sample.extras["frame_index"] == 0 and sample.extras["image_size"] == (256, 256)
    assert not result.skipped and not result.excluded


def test_coco_folder_path_finds_annotations_json(tmp_path):
    _, expected = write_coco(tmp_path)
    assert_read_as_expected(read_dataset("coco", tmp_path).samples, expected)


def test_coco_rhd_finger_order_option(tmp_path):
    path, expected = write_coco(tmp_path, joint_order="rhd_hand")
    assert_read_as_expected(read_dataset("coco", path, joint_order="rhd_hand").samples, expected)
    wrong = read_dataset("coco", path).samples[0]  # read as canonical, the thumb tip lands on the CMC
    assert not np.allclose(wrong.keypoints_2d[4], expected[wrong.sample_id].keypoints_2d[4])


def test_coco_binary_flags_of_mmpose_conversions_mean_labelled(tmp_path):
    path, _ = write_coco(tmp_path)
    with edited_json(path) as data:
        for ann in data["annotations"]:
            flat = np.array(ann["keypoints"])
            flat[2::3] = 1
            ann["keypoints"] = flat.tolist()
    sample = read_dataset("coco", path).samples[0]
    assert set(sample.visibility.tolist()) == {2}  # no flag 2 in the file: 1 means labelled
    assert set(read_dataset("coco", path, visibility="coco").samples[0].visibility.tolist()) == {1}


def test_rhd_reads_each_visible_hand_in_mm_and_counts_hidden_ones(tmp_path):
    expected = write_rhd(tmp_path)
    result = read_dataset("rhd", tmp_path, split="training")
    assert_read_as_expected(result.samples, expected, atol_px=1e-3, atol_mm=1e-2)
    assert result.excluded == {"left hand with fewer than 10 visible keypoints": 1}
    assert len(read_dataset("rhd", tmp_path, min_visible_joints="22").samples) == 0  # options may be text
    sample = result.samples[0]
    assert sample.mask is not None and sample.depth is not None and sample.depth.encoding == "rhd"


def test_rhd_depth_decoding(tmp_path):
    import cv2

    packed = np.zeros((2, 2, 3), dtype=np.uint8)
    packed[0, 0, 2], packed[0, 0, 1] = 0x80, 0x01  # red (top bits), green (bottom bits); cv2 writes BGR
    cv2.imwrite(str(tmp_path / "d.png"), packed)
    depth = read_depth_mm(tmp_path / "d.png", "rhd")
    assert depth.dtype == np.float32
    assert depth[0, 0] == pytest.approx((0x80 * 256 + 0x01) / 65535 * 5000, rel=1e-6)
    assert depth[1, 1] == 0


def test_freihand_four_appearances_share_a_label(tmp_path):
    expected = write_freihand(tmp_path, num_labels=3)
    result = read_dataset("freihand", tmp_path)
    assert len(result.samples) == 12
    assert_read_as_expected(result.samples, expected, atol_mm=1e-6)
    by_id = {s.sample_id: s for s in result.samples}
    assert by_id["training/00000007"].extras["label_index"] == 1  # image 7 uses label 7 % 3
    assert by_id["training/00000007"].extras["appearance"] == "sample"
    assert by_id["training/00000007"].extras["group"] == by_id["training/00000001"].extras["group"]


def test_freihand_appearance_option_and_evaluation_split(tmp_path):
    write_freihand(tmp_path, num_labels=2)
    expected = write_freihand(tmp_path, num_labels=2, split="evaluation")
    assert len(read_dataset("freihand", tmp_path, split="training", appearances=["gs"]).samples) == 2
    assert len(read_dataset("freihand", tmp_path, split="training", appearances="gs,auto").samples) == 4
    assert_read_as_expected(read_dataset("freihand", tmp_path, split="evaluation").samples, expected)
    assert len(read_dataset("freihand", tmp_path).samples) == 8 + 2  # both splits when none is given


def test_panoptic_manual_and_panopticdb(tmp_path):
    expected = write_panoptic_manual(tmp_path, "train") | write_panoptic_manual(tmp_path, "test") | write_panopticdb(tmp_path)
    assert_read_as_expected(read_dataset("panoptic", tmp_path).samples, expected)
    only_test = read_dataset("panoptic", tmp_path, split="test").samples
    assert {s.sample_id.split("/")[0] for s in only_test} == {"manual_test"}
    assert read_dataset("panoptic", tmp_path / "hand143_panopticdb").samples[0].extras["objpos"]


def test_onehand10k_minus_one_means_not_labelled(tmp_path):
    expected = write_onehand10k(tmp_path, "Train") | write_onehand10k(tmp_path, "Test", num_images=1)
    result = read_dataset("onehand10k", tmp_path)
    assert_read_as_expected(result.samples, expected)
    assert result.samples[0].extras["image_size"] == (300, 400)


def test_stb_colour_frame_palm_root_and_splits(tmp_path):
    expected = write_stb(tmp_path, "B1Counting") | write_stb(tmp_path, "B2Random", num_frames=1)
    assert_read_as_expected(read_dataset("stb", tmp_path).samples, expected, atol_mm=1e-6)
    test = read_dataset("stb", tmp_path, split="test").samples
    assert [s.sample_id for s in test] == ["B1Counting/0", "B1Counting/1"]
    assert test[0].extras["root_joint"] == "palm_center" and test[0].extras["group"] == "B1Counting"


def test_interhand_world_to_camera_and_two_hands(tmp_path):
    path, expected = write_interhand(tmp_path)
    result = read_dataset("interhand", path)
    assert_read_as_expected(result.samples, expected, atol_px=1e-6, atol_mm=1e-6)
    assert result.excluded == {"left hand without valid joints": 1}
    assert {s.extras["hand_type"] for s in result.samples} == {"interacting", "right"}


def test_coco_wholebody_valid_flags_and_fractional_scores(tmp_path):
    path, expected = write_coco_wholebody(tmp_path)
    result = read_dataset("coco_wholebody", path)
    assert_read_as_expected(result.samples, expected)
    assert result.excluded == {"left hand not annotated (lefthand_valid false)": 1, "right hand not annotated (righthand_valid false)": 2}


def test_unknown_format_split_or_option_is_refused(tmp_path):
    path, _ = write_coco(tmp_path)
    with pytest.raises(ValueError, match="unknown dataset format"):
        read_dataset("nyu", path)
    with pytest.raises(ValueError, match="no option"):
        read_dataset("coco", path, min_visible_joints=3)
    with pytest.raises(ValueError, match="split must be one of"):
        read_dataset("rhd", tmp_path, split="val")
