"""``handpose data check`` / ``data show`` and the drawing behind ``show``."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from handpose.cli import data as data_cli
from handpose.cli.main import build_parser, main
from handpose.data.readers import FORMATS, read_dataset
from handpose.skeleton import BONES, JOINT_COLORS
from handpose.viz.contact_sheet import contact_sheet, hand_tile
from handpose.viz.skeleton_overlay import draw_skeleton

from native_fixtures import edited_json, write_coco

REAL_SET = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "uci_hand" / "annotations.json"


def test_help_lists_the_formats_the_readers_have(capsys):
    assert set(data_cli.FORMAT_NAMES) == set(FORMATS)
    assert "data" in build_parser().format_help()
    assert main(["data", "formats"]) == 0
    listing = capsys.readouterr().out
    assert all(fmt in listing for fmt in FORMATS)
    assert "joint_order='canonical'" in listing and "min_visible_joints=10" in listing


def test_check_reports_counts_sides_and_joint_fractions(tmp_path, capsys):
    path, expected = write_coco(tmp_path)
    assert main(["data", "check", "--format", "coco", str(path), "--check-images"]) == 0
    out = capsys.readouterr().out
    assert f"good samples: {len(expected)} in {len(expected)} images (images decoded)" in out
    assert "hand sides: left 1, right 2" in out
    assert "thumb_ip     1.000 / 0.000" in out  # labelled everywhere, occluded everywhere (fixture flags joint 3)
    assert "with 3D keypoints: 3; with camera intrinsics: 3" in out


def test_check_bad_sample_fails_under_error_and_is_reported_under_skip(tmp_path, capsys):
    path, expected = write_coco(tmp_path)
    with edited_json(path) as data:
        data["annotations"][1]["keypoints"] = [1.0] * 60
    assert main(["data", "check", "--format", "coco", str(path)]) == 1
    err = capsys.readouterr().err
    assert "images/0001.jpg#101" in err and str(path) in err and "shape (60,)" in err
    assert main(["data", "check", "--format", "coco", str(path), "--policy", "skip"]) == 0
    out = capsys.readouterr().out
    assert f"good samples: {len(expected) - 1}" in out and "bad samples (skipped): 1" in out and "shape (60,)" in out


def test_check_truncated_image_under_skip(tmp_path, capsys):
    path, expected = write_coco(tmp_path)
    (tmp_path / "images" / "0000.jpg").write_bytes(b"\xff\xd8\xff")
    assert main(["data", "check", "--format", "coco", str(path), "--check-images", "--policy", "skip"]) == 0
    out = capsys.readouterr().out
    assert "bad samples (skipped): 1" in out and "0000.jpg" in out and "truncated" in out


def test_check_exits_non_zero_when_nothing_is_usable(tmp_path, capsys):
    path, _ = write_coco(tmp_path)
    for image in (tmp_path / "images").iterdir():
        image.unlink()
    assert main(["data", "check", "--format", "coco", str(path), "--policy", "skip"]) == 1
    assert "UNUSABLE" in capsys.readouterr().out


def test_check_usage_errors_exit_2(tmp_path, capsys):
    path, _ = write_coco(tmp_path)
    assert main(["data", "check", "--format", "nyu", str(path)]) == 2
    assert "unknown dataset format" in capsys.readouterr().err
    assert main(["data", "check", "--format", "coco", str(path), "-o", "joint_order"]) == 2
    assert main(["data", "check", "--format", "coco", str(path), "-o", "joint_order=rhd"]) == 2  # a two-hand order


def test_reader_options_from_the_command_line(tmp_path, capsys):
    path, _ = write_coco(tmp_path, joint_order="rhd_hand")
    assert main(["data", "check", "--format", "coco", str(path), "-o", "joint_order=rhd_hand"]) == 0


@pytest.mark.skipif(not REAL_SET.is_file(), reason="shared data not found")
def test_check_real_set_reports_944_good_samples(capsys):
    assert main(["data", "check", "--format", "coco", str(REAL_SET)]) == 0
    assert "good samples: 944 in 944 images" in capsys.readouterr().out


def test_show_writes_a_png_sheet_of_the_chosen_hands(tmp_path, capsys):
    path, _ = write_coco(tmp_path, num_images=5)
    out = tmp_path / "sheet.png"
    assert main(["data", "show", "--format", "coco", str(path), "--out", str(out), "--count", "4", "--tile-size", "64"]) == 0
    sheet = cv2.imread(str(out))
    tile_height = hand_tile(read_dataset("coco", path).samples[0], 64).shape[0]
    assert sheet.shape == (2 * tile_height, 2 * 64, 3)
    assert "wrote" in capsys.readouterr().out
    assert not list(tmp_path.glob(".sheet.png*"))  # no temporary file left behind


def test_show_same_seed_same_sheet_other_seed_other_sheet(tmp_path):
    path, _ = write_coco(tmp_path, num_images=6)
    sheets = []
    for seed, name in ((1, "a.png"), (1, "b.png"), (2, "c.png")):
        main(["data", "show", "--format", "coco", str(path), "--out", str(tmp_path / name), "--count", "2", "--seed", str(seed)])
        sheets.append(cv2.imread(str(tmp_path / name)))
    assert np.array_equal(sheets[0], sheets[1]) and not np.array_equal(sheets[0], sheets[2])


def test_draw_skeleton_puts_each_joint_colour_on_its_keypoint():
    image = np.zeros((200, 200, 3), np.uint8)
    keypoints = np.stack([np.linspace(20, 180, 21), np.linspace(30, 170, 21)[::-1]], axis=1)
    keypoints[:, 0] = 20 + (np.arange(21) % 5) * 40
    drawn = draw_skeleton(image, keypoints, radius=4)
    assert not drawn is image and image.max() == 0  # the input is left alone
    for j, (x, y) in enumerate(np.round(keypoints).astype(int)):
        assert np.abs(drawn[y, x].astype(int) - JOINT_COLORS[j]).max() <= 2, j


def test_draw_skeleton_occluded_hollow_unlabelled_absent():
    image = np.zeros((120, 120, 3), np.uint8)
    keypoints = np.tile([60.0, 60.0], (21, 1))
    keypoints[1] = [30.0, 30.0]
    keypoints[2] = [90.0, 90.0]
    visibility = np.zeros(21, np.int8)
    visibility[1], visibility[2] = 1, 2  # thumb cmc occluded, thumb mcp visible, the rest unlabelled
    drawn = draw_skeleton(image, keypoints, visibility, radius=6, thickness=2)
    assert drawn[33, 27].max() == 0 and drawn[24, 30].max() > 0  # ring: empty inside (off the bone), coloured rim
    assert np.abs(drawn[90, 90].astype(int) - JOINT_COLORS[2]).max() <= 2  # filled disc
    assert drawn[60, 60].max() > 0  # the bone between them is drawn
    assert drawn[10:20, 100:110].max() == 0 and len(BONES) == 20  # nothing else


def test_contact_sheet_tiles_and_captions(tmp_path):
    path, _ = write_coco(tmp_path, num_images=3)
    samples = read_dataset("coco", path).samples
    sheet, skipped = contact_sheet(samples, tile_size=80, columns=3)
    assert sheet.shape == (hand_tile(samples[0], 80).shape[0], 240, 3) and skipped == []
    (tmp_path / "images" / "0001.jpg").unlink()
    sheet, skipped = contact_sheet(samples, tile_size=80, columns=3, skip_unreadable=True)
    assert [sample_id for sample_id, _ in skipped] == ["images/0001.jpg#101"]
