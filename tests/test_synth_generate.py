"""Dataset files: RHD and COCO structure, determinism across workers, clean interruption, CLI."""

import json
import pickle

import cv2
import numpy as np
import pytest

from handpose.cli.main import main
from handpose.data.readers import read_dataset
from handpose.geometry.camera import project
from handpose.joint_orders import to_canonical
from handpose.synth import generate, generate_dataset, render_scene
from handpose.synth.writers import pack_rhd_depth

SIZE = 64


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("format", ["coco", "rhd"])
def test_same_seed_gives_the_same_bytes_with_one_or_two_workers(tmp_path, format):
    one = generate_dataset(tmp_path / "one", 6, size=SIZE, seed=5, format=format, workers=1, progress=False)
    two = generate_dataset(tmp_path / "two", 6, size=SIZE, seed=5, format=format, workers=2, progress=False)
    assert one.relative_to(tmp_path / "one") == two.relative_to(tmp_path / "two")
    files_one, files_two = _tree(tmp_path / "one"), _tree(tmp_path / "two")
    assert files_one == files_two
    assert len(files_one) > 6


def test_coco_files_have_the_documented_structure(tmp_path):
    path = generate_dataset(tmp_path, 4, size=SIZE, seed=2, format="coco", split="val", progress=False)
    assert path == tmp_path / "val.json"
    data = json.loads(path.read_text())
    assert len(data["images"]) == 4
    assert data["categories"][0]["keypoints"][:2] == ["wrist", "thumb1"]
    images = {image["id"]: image for image in data["images"]}
    for ann in data["annotations"]:
        image = images[ann["image_id"]]
        assert (tmp_path / image["file_name"]).is_file()
        assert image["width"] == image["height"] == SIZE
        fx, fy = image["cam_param"]["focal"]
        cx, cy = image["cam_param"]["princpt"]
        keypoints = np.array(ann["keypoints"], dtype=float).reshape(21, 3)
        assert set(keypoints[:, 2]) <= {1.0, 2.0}
        joint_cam = np.array(ann["joint_cam"])
        assert joint_cam.shape == (21, 3)
        K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
        assert np.allclose(project(joint_cam, K), keypoints[:, :2], atol=0.05)
        x, y, w, h = ann["bbox"]
        assert w > 0 and h > 0 and ann["area"] == pytest.approx(w * h, rel=1e-3)
        assert ann["hand_type"] in ("left", "right")
    read = read_dataset("coco", tmp_path, split="val")
    assert len(read.samples) == len(data["annotations"]) and not read.skipped


def test_rhd_files_have_the_documented_structure(tmp_path):
    path = generate_dataset(tmp_path, 4, size=SIZE, seed=3, format="rhd", split="train", progress=False)
    assert path == tmp_path / "training" / "anno_training.pickle"
    with open(path, "rb") as f:
        annotations = pickle.load(f)
    assert sorted(annotations) == [0, 1, 2, 3]
    for index, label in annotations.items():
        assert label["xyz"].shape == (42, 3) and label["uv_vis"].shape == (42, 3) and label["K"].shape == (3, 3)
        name = f"{index:05d}.png"
        colour = cv2.imread(str(path.parent / "color" / name))
        mask = cv2.imread(str(path.parent / "mask" / name), cv2.IMREAD_UNCHANGED)
        depth = cv2.imread(str(path.parent / "depth" / name))[..., ::-1]  # RGB
        assert colour.shape == (SIZE, SIZE, 3) and mask.shape == (SIZE, SIZE) and mask.max() <= 33
        depth_mm = (depth[..., 0].astype(float) * 256 + depth[..., 1]) / 65535 * 5000
        scene = render_scene(3, index, SIZE)
        assert np.allclose(depth_mm, scene.depth, atol=0.05)
        assert np.array_equal(mask, scene.mask)
        for side, rows in (("left", slice(0, 21)), ("right", slice(21, 42))):
            hand = [h for h in scene.hands if h.side == side]
            uv_vis, xyz = label["uv_vis"][rows], label["xyz"][rows]
            if not hand:
                assert not uv_vis.any() and not xyz.any()
                continue
            # RHD order: wrist, then each finger from its tip to the palm; metres.
            assert np.allclose(xyz[0] * 1000, hand[0].keypoints_3d[0], atol=0.01)
            assert np.allclose(xyz[1] * 1000, hand[0].keypoints_3d[4], atol=0.01)  # thumb tip
            assert np.allclose(xyz[20] * 1000, hand[0].keypoints_3d[17], atol=0.01)  # pinky MCP
            assert np.allclose(to_canonical(uv_vis, "rhd_hand")[:, :2], hand[0].keypoints_2d, atol=1e-3)
            assert np.array_equal(to_canonical(uv_vis, "rhd_hand")[:, 2] == 1, hand[0].visible)
            assert np.allclose(project(xyz, label["K"]), uv_vis[:, :2], atol=1e-2)
    read = read_dataset("rhd", tmp_path, split="training", min_visible_joints=1)
    assert read.samples and not read.skipped


def test_rhd_depth_packing_puts_the_top_byte_in_red():
    packed = pack_rhd_depth(np.array([[0.0, 5000.0, 1234.5]]))
    value = packed[..., 0].astype(int) * 256 + packed[..., 1]
    assert value.tolist() == [[0, 65535, round(1234.5 / 5000 * 65535)]]
    assert not packed[..., 2].any()


def test_an_interrupted_run_leaves_no_annotation_file(tmp_path, monkeypatch):
    path = generate_dataset(tmp_path, 2, size=SIZE, seed=0, progress=False)
    assert path.is_file()
    real = generate.render_scene

    def failing(seed, index, size, *options):
        if index == 1:
            raise KeyboardInterrupt
        return real(seed, index, size, *options)

    monkeypatch.setattr(generate, "render_scene", failing)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(tmp_path, 2, size=SIZE, seed=1, progress=False)
    assert not path.exists()  # the old annotations would describe images now overwritten
    assert not list(tmp_path.rglob("*.tmp"))
    monkeypatch.setattr(generate, "render_scene", real)
    assert generate_dataset(tmp_path, 2, size=SIZE, seed=1, progress=False).is_file()


def test_command_line_writes_a_dataset(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path), "--count", "2", "--size", str(SIZE), "--format", "rhd"]) == 0
    assert (tmp_path / "training" / "anno_training.pickle").is_file()
    assert "anno_training.pickle" in capsys.readouterr().out
