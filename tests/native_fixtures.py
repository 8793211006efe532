"""Writers of tiny datasets in each public dataset's native layout, for the reader tests.

Every writer starts from hands in the canonical order (:func:`synthetic_hand_3d`), converts them
to the dataset's own order, units and files, and returns what a reader must give back: a dict of
sample id to :class:`Expected`. A reader that gets the order, the units or the camera wrong
returns other numbers.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from handpose.data.readers import stb
from handpose.geometry.camera import intrinsics, project
from handpose.joint_orders import from_canonical
from handpose.skeleton import FINGERS, NUM_JOINTS


@contextmanager
def edited_json(path: Path) -> Iterator:
    """A fixture file's JSON content to change in place (to break it); written back when the block ends."""
    content = json.loads(path.read_text())
    yield content
    path.write_text(json.dumps(content))


@dataclass
class Expected:
    keypoints_2d: np.ndarray  # (21, 2) canonical order
    hand_side: str | None
    keypoints_3d: np.ndarray | None = None  # (21, 3) mm, camera frame
    visibility: np.ndarray | None = None  # (21,) COCO flags, when not all visible


def assert_read_as_expected(samples: list, expected: dict[str, Expected], atol_px: float = 1e-3, atol_mm: float = 1e-3) -> None:
    """The samples are exactly the expected ones, with their keypoints, sides, 3D and flags."""
    by_id = {s.sample_id: s for s in samples}
    assert sorted(by_id) == sorted(expected)
    for sample_id, want in expected.items():
        sample = by_id[sample_id]
        labelled = sample.visibility > 0
        np.testing.assert_allclose(sample.keypoints_2d[labelled], want.keypoints_2d[labelled], atol=atol_px, err_msg=sample_id)
        assert sample.hand_side == want.hand_side, sample_id
        if want.keypoints_3d is not None:
            np.testing.assert_allclose(sample.keypoints_3d, want.keypoints_3d, atol=atol_mm, err_msg=sample_id)
        want_visibility = np.full(NUM_JOINTS, 2) if want.visibility is None else want.visibility
        np.testing.assert_array_equal(sample.visibility, want_visibility, err_msg=sample_id)
        assert np.all(sample.box[:2] <= sample.keypoints_2d[labelled].min(axis=0) + 1e-6)
        assert np.all(sample.box[2:] >= sample.keypoints_2d[labelled].max(axis=0) - 1e-6)
        assert Path(sample.image).is_file()


def synthetic_hand_3d(seed: int = 0, depth_mm: float = 450.0, side: str = "right") -> np.ndarray:
    """A plausible open hand, canonical order, (21, 3) mm in a camera frame looking along +z."""
    rng = np.random.default_rng(seed)
    points = np.zeros((NUM_JOINTS, 3))
    base_angles = np.radians([-55.0, -22.0, -5.0, 12.0, 28.0])  # thumb .. pinky, from the hand's axis
    base_radius = [25.0, 80.0, 82.0, 78.0, 72.0]
    segments = [[30.0, 30.0, 25.0], [40.0, 25.0, 20.0], [45.0, 28.0, 22.0], [42.0, 26.0, 20.0], [32.0, 20.0, 18.0]]
    for f, joints in enumerate(FINGERS.values()):
        direction = np.array([np.sin(base_angles[f]), -np.cos(base_angles[f]), 0.0])
        points[joints[0]] = base_radius[f] * direction
        for k in range(1, 4):
            bend = np.array([0.0, 0.0, -0.15 * k])
            points[joints[k]] = points[joints[k - 1]] + segments[f][k - 1] * (direction + bend)
    if side == "left":
        points[:, 0] *= -1
    angle = rng.uniform(-0.6, 0.6)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    return points @ rotation.T + np.array([rng.uniform(-20, 20), rng.uniform(-20, 20), depth_mm])


def write_image(path: Path, size: tuple[int, int], value: int = 128) -> Path:
    """A plain image of (width, height) in the format the suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    image = np.full((height, width, 3), value, dtype=np.uint8)
    cv2.circle(image, (width // 2, height // 2), min(size) // 4, (200, 150, 120), -1)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")
    return path


def _rounded(points_2d: np.ndarray) -> np.ndarray:
    """2D as written to a text label (two decimals)."""
    return np.round(points_2d, 2)


# --- generic COCO-style -------------------------------------------------------------------------------

def write_coco(
    folder: Path,
    num_images: int = 3,
    joint_order: str = "canonical",
    nested: bool = False,
    with_3d: bool = True,
    image_size: tuple[int, int] = (256, 256),
    file_name: str = "annotations.json",
) -> tuple[Path, dict[str, Expected]]:
    """COCO-style JSON with one hand per image (2D, 3D, cam_param, hand_type, subject/sequence)."""
    K = intrinsics(300.0, 300.0, image_size[0] / 2, image_size[1] / 2)
    data: dict = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "hand"}]}
    expected = {}
    for i in range(num_images):
        side = "left" if i % 2 else "right"
        xyz = synthetic_hand_3d(seed=i, side=side)
        uv = _rounded(project(xyz, K))
        name = f"images/{i:04d}.jpg"
        write_image(folder / name, image_size)
        flags = np.full(NUM_JOINTS, 2)
        flags[3] = 1  # one occluded joint
        triplets = from_canonical(np.column_stack([uv, flags]), joint_order)
        data["images"].append(
            {"id": 10 + i, "file_name": name, "width": image_size[0], "height": image_size[1], "subject": "s1",
             "sequence": f"seq{i // 2}", "frame_index": i, "cam_param": {"focal": [300.0, 300.0], "princpt": [K[0, 2], K[1, 2]]}}
        )
        ann = {"id": 100 + i, "image_id": 10 + i, "category_id": 1, "hand_type": side,
               "keypoints": triplets.tolist() if nested else triplets.ravel().tolist()}
        if with_3d:
            ann["joint_cam"] = from_canonical(xyz, joint_order).tolist()
        data["annotations"].append(ann)
        vis = flags.astype(np.int8)
        expected[f"{name}#{100 + i}"] = Expected(uv, side, xyz if with_3d else None, vis)
    path = folder / file_name
    path.write_text(json.dumps(data))
    return path, expected


# --- RHD ----------------------------------------------------------------------------------------------

def write_rhd(root: Path, split: str = "training", num_images: int = 2) -> dict[str, Expected]:
    """RHD: anno_<split>.pickle (xyz in metres, uv_vis, K), color/, mask/, depth/.

    Image 0 shows both hands; in image 1 the left hand is hidden (no visible keypoint)."""
    folder = root / split
    K = intrinsics(283.1, 283.1, 160.0, 160.0)
    annotations, expected = {}, {}
    for index in range(num_images):
        hands = {side: synthetic_hand_3d(seed=10 * index + s, side=side) for s, side in enumerate(("left", "right"))}
        hands["left"][:, 0] -= 60.0
        hands["right"][:, 0] += 60.0
        uv = {side: project(xyz, K) for side, xyz in hands.items()}
        visible = {side: np.ones(NUM_JOINTS) for side in hands}
        visible["right"][7] = 0  # an occluded right index DIP
        if index == 1:
            visible["left"][:] = 0
        canonical_xyz = np.concatenate([hands["left"], hands["right"]])
        canonical_uv_vis = np.concatenate([np.column_stack([uv[s], visible[s]]) for s in ("left", "right")])
        annotations[index] = {
            "xyz": from_canonical(canonical_xyz / 1000.0, "rhd").astype(np.float32),
            "uv_vis": from_canonical(canonical_uv_vis, "rhd").astype(np.float32),
            "K": K.astype(np.float32),
        }
        for sub in ("color", "mask", "depth"):
            write_image(folder / sub / f"{index:05d}.png", (320, 320))
        for side in ("left", "right"):
            if visible[side].any():
                expected[f"{split}/{index:05d}/{side}"] = Expected(uv[side], side, hands[side], np.where(visible[side] > 0, 2, 1))
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"anno_{split}.pickle", "wb") as f:
        pickle.dump(annotations, f)
    return expected


# --- FreiHAND -----------------------------------------------------------------------------------------

def write_freihand(root: Path, num_labels: int = 3, split: str = "training") -> dict[str, Expected]:
    """FreiHAND: <split>_K.json, <split>_xyz.json (metres), <split>/rgb/%08d.jpg (4 appearances for training)."""
    Ks, xyzs, expected = [], [], {}
    versions = 4 if split == "training" else 1
    for label in range(num_labels):
        K = intrinsics(480.0 + label, 480.0 + label, 112.0, 112.0)
        xyz = synthetic_hand_3d(seed=label, depth_mm=600.0)
        Ks.append(K.tolist())
        xyzs.append((xyz / 1000.0).tolist())
        for version in range(versions):
            index = label + version * num_labels
            write_image(root / split / "rgb" / f"{index:08d}.jpg", (224, 224), value=60 * version)
            expected[f"{split}/{index:08d}"] = Expected(project(xyz, K), "right", xyz)
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{split}_K.json").write_text(json.dumps(Ks))
    (root / f"{split}_xyz.json").write_text(json.dumps(xyzs))
    return expected


# --- CMU Panoptic -------------------------------------------------------------------------------------

def write_panoptic_manual(root: Path, split: str = "train", num_hands: int = 2) -> dict[str, Expected]:
    """hand_labels/manual_<split>/<name>.json (hand_pts with visibility flag, is_left) beside <name>.jpg."""
    folder = root / "hand_labels" / f"manual_{split}"
    K = intrinsics(900.0, 900.0, 320.0, 240.0)
    expected = {}
    for i in range(num_hands):
        side = "left" if i % 2 else "right"
        uv = _rounded(project(synthetic_hand_3d(seed=i, side=side), K))
        flags = np.ones(NUM_JOINTS)
        flags[8] = 0  # an occluded index tip
        name = f"{i:06d}_01_{side[0]}"
        write_image(folder / f"{name}.jpg", (640, 480))
        label = {"hand_pts": np.column_stack([uv, flags]).tolist(), "is_left": int(side == "left"), "head_size": 70.5}
        (folder / f"{name}.json").write_text(json.dumps(label))
        expected[f"manual_{split}/{name}"] = Expected(uv, side, visibility=np.where(flags > 0, 2, 1))
    return expected


def write_panopticdb(root: Path, num_hands: int = 2) -> dict[str, Expected]:
    """hand143_panopticdb/hands_v143_14817.json ({"root": [img_paths, img_width, img_height, joint_self]}) and imgs/."""
    folder = root / "hand143_panopticdb"
    K = intrinsics(1000.0, 1000.0, 960.0, 540.0)
    entries, expected = [], {}
    for i in range(num_hands):
        uv = _rounded(project(synthetic_hand_3d(seed=i), K))
        flags = np.ones(NUM_JOINTS)
        flags[20] = 0  # no label for the pinky tip
        name = f"imgs/{i:08d}.jpg"
        write_image(folder / name, (1920, 1080))
        entries.append({"img_paths": name, "img_width": 1920, "img_height": 1080,
                        "joint_self": np.column_stack([uv, flags]).tolist(), "objpos": uv.mean(axis=0).tolist()})
        expected[f"panopticdb/{name}"] = Expected(uv, None, visibility=np.where(flags > 0, 2, 0))
    (folder / "hands_v143_14817.json").write_text(json.dumps({"root": entries}))
    return expected


# --- OneHand10K ---------------------------------------------------------------------------------------

def write_onehand10k(root: Path, split: str = "Train", num_images: int = 3) -> dict[str, Expected]:
    """<Split>/label_joint.txt lines "name,width,height,count,x1,y1,...,x21,y21" (-1 for invisible), <Split>/source/."""
    folder = root / split
    lines, expected = [], {}
    for i in range(num_images):
        size = (300 + 20 * i, 400)
        K = intrinsics(350.0, 350.0, size[0] / 2, size[1] / 2)
        uv = np.round(project(synthetic_hand_3d(seed=i), K))
        visible = np.ones(NUM_JOINTS, dtype=bool)
        visible[[0, 12]] = False  # wrist and middle tip not visible
        written = np.where(visible[:, None], uv, -1)
        name = f"{i}.jpg"
        write_image(folder / "source" / name, size)
        lines.append(",".join([name, str(size[0]), str(size[1]), "1"] + [f"{v:g}" for v in written.ravel()]))
        expected[f"{split}/{name}"] = Expected(np.where(visible[:, None], uv, 0), None, visibility=np.where(visible, 2, 0))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "label_joint.txt").write_text("\n".join(lines) + "\n")
    return expected


# --- STB ----------------------------------------------------------------------------------------------

def write_stb(root: Path, sequence: str = "B1Counting", num_frames: int = 2) -> dict[str, Expected]:
    """labels/<sequence>_SK.mat (handPara 3 x 21 x N, depth-sensor frame, mm) and images/<sequence>/SK_color_<i>.png."""
    from scipy.io import savemat

    frames, expected = [], {}
    for frame in range(num_frames):
        colour = synthetic_hand_3d(seed=frame, depth_mm=500.0, side="left")
        depth_sensor = colour @ stb.SK_ROTATION.T + stb.SK_TRANSLATION  # d = R c + t
        frames.append(from_canonical(depth_sensor, "stb").T)
        write_image(root / "images" / sequence / f"SK_color_{frame}.png", (640, 480))
        expected[f"{sequence}/{frame}"] = Expected(project(colour, stb.SK_COLOR_K), "left", colour)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    savemat(str(root / "labels" / f"{sequence}_SK.mat"), {"handPara": np.stack(frames, axis=2)})
    return expected


# --- InterHand2.6M ------------------------------------------------------------------------------------

def write_interhand(folder: Path, prefix: str = "test_interhand2.6m") -> tuple[Path, dict[str, Expected]]:
    """<prefix>_data.json, _camera.json, _joint_3d.json: image 0 both hands (interacting), image 1 the right only."""
    angle = 0.3
    rotation = np.array([[np.cos(angle), 0.0, np.sin(angle)], [0.0, 1.0, 0.0], [-np.sin(angle), 0.0, np.cos(angle)]])
    centre = np.array([-150.0, 40.0, 80.0])
    focal, princpt = [1200.0, 1210.0], [170.0, 255.0]
    K = intrinsics(*focal, *princpt)
    data: dict = {"images": [], "annotations": []}
    joints_3d: dict = {"1": {}}
    expected = {}
    for i, hand_type in enumerate(("interacting", "right")):
        hands = {"left": synthetic_hand_3d(seed=i, depth_mm=1000.0, side="left"), "right": synthetic_hand_3d(seed=i + 5, depth_mm=1000.0)}
        hands["left"][:, 0] -= 50.0
        hands["right"][:, 0] += 50.0
        camera_frame = np.concatenate([hands["left"], hands["right"]])  # canonical two-hand layout: left then right
        world = camera_frame @ rotation + centre  # inverse of camera = R (world - centre)
        valid = np.ones(2 * NUM_JOINTS)
        if hand_type == "right":
            valid[:NUM_JOINTS] = 0
        frame = 1000 + i
        name = f"image{frame}.jpg"
        write_image(folder / name, (334, 512))
        data["images"].append({"id": i, "file_name": name, "width": 334, "height": 512, "capture": 1, "subject": 0,
                               "seq_name": "0001_test", "camera": "400001", "frame_idx": frame})
        data["annotations"].append({"id": i, "image_id": i, "bbox": [0, 0, 334, 512], "hand_type": hand_type, "hand_type_valid": 1,
                                    "joint_valid": from_canonical(valid[:, None], "interhand").astype(int).tolist()})
        joints_3d["1"][str(frame)] = {"world_coord": from_canonical(world, "interhand").tolist(), "hand_type": hand_type}
        for side in ("left", "right"):
            if hand_type == "interacting" or side == hand_type:
                expected[f"{name}/{side}"] = Expected(project(hands[side], K), side, hands[side])
    cameras = {"1": {"campos": {"400001": centre.tolist()}, "camrot": {"400001": rotation.tolist()},
                     "focal": {"400001": focal}, "princpt": {"400001": princpt}}}
    data_path = folder / f"{prefix}_data.json"
    data_path.write_text(json.dumps(data))
    (folder / f"{prefix}_camera.json").write_text(json.dumps(cameras))
    (folder / f"{prefix}_joint_3d.json").write_text(json.dumps(joints_3d))
    return data_path, expected


# --- COCO-WholeBody -----------------------------------------------------------------------------------

def write_coco_wholebody(folder: Path) -> tuple[Path, dict[str, Expected]]:
    """A person with both hands valid, one with only the left, one with none (body keypoints omitted)."""
    K = intrinsics(800.0, 800.0, 320.0, 240.0)
    people = [(True, True), (True, False), (False, False)]
    data: dict = {"images": [{"id": 5, "file_name": "000000000005.jpg", "width": 640, "height": 480}], "annotations": []}
    write_image(folder / "000000000005.jpg", (640, 480))
    expected = {}
    for person, (left_valid, right_valid) in enumerate(people):
        ann: dict = {"id": 70 + person, "image_id": 5, "category_id": 1, "bbox": [0, 0, 100, 100]}
        for side, valid in (("left", left_valid), ("right", right_valid)):
            if valid:
                xyz = synthetic_hand_3d(seed=person, depth_mm=2000.0, side=side)
                xyz[:, 0] += 200.0 * person + (-80.0 if side == "left" else 80.0)
                uv = _rounded(project(xyz, K))
                flags = np.full(NUM_JOINTS, 2.0)
                flags[16] = 1.0  # occluded ring tip
                flags[15] = 0.37  # a fractional score: labelled, not known visible
                kpts = np.column_stack([uv, flags])
                lo, hi = uv.min(axis=0), uv.max(axis=0)
                ann[f"{side}hand_box"] = [lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]]
                expected[f"000000000005.jpg#{70 + person}/{side}"] = Expected(uv, side, visibility=np.where(flags >= 2, 2, 1))
            else:
                kpts = np.zeros((NUM_JOINTS, 3))
                ann[f"{side}hand_box"] = [0.0, 0.0, 0.0, 0.0]
            ann[f"{side}hand_kpts"] = kpts.ravel().tolist()
            ann[f"{side}hand_valid"] = valid
        data["annotations"].append(ann)
    path = folder / "coco_wholebody_val_v1.0.json"
    path.write_text(json.dumps(data))
    return path, expected
