import cv2
import numpy as np
import pytest

from handpose.geometry.camera import apply_affine, intrinsics, project
from handpose.geometry.crop import (
    MIDDLE_MCP,
    CropBox,
    box_around,
    box_around_keypoints,
    crop_affine,
    crop_camera,
    crop_image,
    crop_sample,
    uncrop_keypoints,
    upright_rotation,
)
from handpose.structures import HandSample

from random_samples import random_hand_sample


def random_camera(rng: np.random.Generator) -> np.ndarray:
    K = intrinsics(*rng.uniform(200, 1500, 2), *rng.uniform(50, 600, 2))
    if rng.random() < 0.5:
        K[0, 1] = rng.uniform(-20, 20)
    return K


def random_box(rng: np.random.Generator) -> CropBox:
    return CropBox(
        center=tuple(rng.uniform(-100, 800, 2)),
        size=float(rng.uniform(8, 900)),
        rotation=float(rng.uniform(-180, 180)),
        flip=bool(rng.random() < 0.5),
    )


def random_points(rng: np.random.Generator, n: int = 21) -> np.ndarray:
    return rng.normal(0, 80, (n, 3)) + [rng.uniform(-150, 150), rng.uniform(-150, 150), rng.uniform(300, 1500)]


def test_box_edges_land_on_the_outer_pixel_edges_of_the_crop():
    box = CropBox(center=(40.0, 25.0), size=20.0)
    affine = crop_affine(box, 64)
    corners = apply_affine(np.array([[30.0, 15.0], [50.0, 35.0], [40.0, 25.0]]), affine)
    assert np.allclose(corners, [[-0.5, -0.5], [63.5, 63.5], [31.5, 31.5]])


def test_rotation_follows_opencv_sign_and_flip_mirrors_the_crop():
    rng = np.random.default_rng(0)
    for _ in range(20):
        box = CropBox(tuple(rng.uniform(0, 300, 2)), float(rng.uniform(10, 300)), float(rng.uniform(-180, 180)))
        affine = crop_affine(box, 48)
        reference = cv2.getRotationMatrix2D(box.center, box.rotation, 48 / box.size)
        assert np.allclose(affine[:, :2], reference[:, :2])
        flipped = crop_affine(CropBox(box.center, box.size, box.rotation, flip=True), 48)
        points = rng.uniform(0, 300, (5, 2))
        plain, mirrored = apply_affine(points, affine), apply_affine(points, flipped)
        assert np.allclose(mirrored[:, 0], 47 - plain[:, 0]) and np.allclose(mirrored[:, 1], plain[:, 1])
    up = apply_affine(np.array([[11.0, 10.0]]), crop_affine(CropBox((10.0, 10.0), 8.0, 90.0), 8))
    assert up[0, 0] == pytest.approx(3.5) and up[0, 1] < 3.5  # a point right of the centre turns up


def test_projection_stays_consistent_over_random_crops_cameras_and_points():
    rng = np.random.default_rng(1)
    for _ in range(400):
        K, box, size = random_camera(rng), random_box(rng), int(rng.integers(8, 512))
        affine = crop_affine(box, size)
        K_new, R = crop_camera(K, affine)
        points = random_points(rng)
        expected = apply_affine(project(points, K), affine)
        assert np.abs(project(points @ R.T, K_new) - expected).max() < 1e-3
        assert np.allclose(R @ R.T, np.eye(3)) and np.isclose(np.linalg.det(R), -1.0 if box.flip else 1.0)
        assert np.allclose(R[2], [0, 0, 1]) and np.allclose(K_new[[1, 2, 2], [0, 0, 1]], 0)
        assert K_new[0, 0] > 0 and K_new[1, 1] > 0 and K_new[2, 2] == 1
        assert np.abs(uncrop_keypoints(expected, affine) - project(points, K)).max() < 1e-3


def test_square_pixels_keep_a_skew_free_camera_and_the_crop_rotation():
    K = intrinsics(600, 600, 320, 240)
    box = CropBox((300.0, 200.0), 150.0, rotation=35.0)
    K_new, R = crop_camera(K, crop_affine(box, 128))
    assert K_new[0, 1] == pytest.approx(0, abs=1e-9)
    assert K_new[0, 0] == pytest.approx(600 * 128 / 150)
    angle = np.radians(35.0)
    assert np.allclose(R[:2, :2], [[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])


def test_non_square_pixels_need_skew_after_rotation():
    K_new, _ = crop_camera(intrinsics(800, 500, 100, 100), crop_affine(CropBox((100.0, 100.0), 100.0, 30.0), 64))
    assert abs(K_new[0, 1]) > 1.0


def test_batched_affines_and_cameras_match_single_ones():
    rng = np.random.default_rng(2)
    boxes = [random_box(rng) for _ in range(6)]
    affines = np.stack([crop_affine(b, 64) for b in boxes]).reshape(2, 3, 2, 3)
    Ks = np.stack([random_camera(rng) for _ in range(6)]).reshape(2, 3, 3, 3)
    K_new, R = crop_camera(Ks, affines)
    keypoints = rng.uniform(0, 64, (2, 3, 21, 2))
    back = uncrop_keypoints(keypoints, affines)
    for i in range(2):
        for j in range(3):
            single_K, single_R = crop_camera(Ks[i, j], affines[i, j])
            assert np.allclose(K_new[i, j], single_K) and np.allclose(R[i, j], single_R)
            assert np.allclose(back[i, j], uncrop_keypoints(keypoints[i, j], affines[i, j]))


def blob_image(height: int, width: int, centre: np.ndarray, sigma: float) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    blob = np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * sigma**2))
    return np.repeat((255 * blob).round().astype(np.uint8)[..., None], 3, axis=2)


def centroid(image: np.ndarray) -> np.ndarray:
    weight = image[..., 0].astype(np.float64)
    ys, xs = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    return np.array([(weight * xs).sum(), (weight * ys).sum()]) / weight.sum()


def test_a_bright_dot_lands_where_the_keypoint_goes():
    rng = np.random.default_rng(3)
    for _ in range(25):
        dot = rng.uniform([40, 30], [80, 60])
        image = blob_image(97, 121, dot, sigma=2.5)
        centre = tuple(dot + rng.uniform(-10, 10, 2))
        box = CropBox(centre, float(rng.uniform(40, 70)), float(rng.uniform(-180, 180)), bool(rng.random() < 0.5))
        size = int(rng.integers(48, 96))
        crop = crop_image(image, box, size)
        expected = apply_affine(dot[None], crop_affine(box, size))[0]
        assert np.abs(centroid(crop) - expected).max() < 0.05


def hand_sample(rng: np.random.Generator, side: str = "left") -> HandSample:
    return random_hand_sample(rng, random_camera(rng), random_points(rng), 240, 320, side, "hand-0")


def test_crop_sample_keeps_2d_3d_and_camera_consistent_and_records_the_affine():
    rng = np.random.default_rng(4)
    for _ in range(30):
        sample = hand_sample(rng)
        box = random_box(rng)
        out = crop_sample(sample, box, 64)
        assert out.image.shape == (64, 64, 3) and out.mask.shape == (64, 64) and out.depth.shape == (64, 64)
        assert np.abs(project(out.keypoints_3d, out.K) - out.keypoints_2d).max() < 1e-3
        assert np.abs(uncrop_keypoints(out.keypoints_2d, out.extras["crop_affine"]) - sample.keypoints_2d).max() < 1e-3
        assert np.allclose(out.keypoints_3d[:, 2], sample.keypoints_3d[:, 2])
        assert out.hand_side == ("right" if box.flip else "left")
        assert out.extras.get("flipped", False) == box.flip
        assert out.box[0] <= out.keypoints_2d[:, 0].min() + 1e-6 and out.box[3] >= out.keypoints_2d[:, 1].max() - 1e-6
        assert set(np.unique(out.mask)) <= {0, 1, 2}
        assert sample.extras == {}  # the input sample is left alone


def test_crop_of_a_crop_composes_the_affine_back_to_the_original_image():
    rng = np.random.default_rng(5)
    sample = hand_sample(rng)
    first = crop_sample(sample, box_around(sample.box, 2.0), 128)
    second = crop_sample(first, CropBox((64.0, 64.0), 100.0, 20.0, flip=True), 64)
    back = uncrop_keypoints(second.keypoints_2d, second.extras["crop_affine"])
    assert np.abs(back - sample.keypoints_2d).max() < 1e-3
    assert second.hand_side == "right" and second.extras["flipped"] is True


def test_crop_sample_without_camera_still_rotates_3d_with_the_crop():
    rng = np.random.default_rng(6)
    sample = hand_sample(rng)
    sample.K = None
    out = crop_sample(sample, CropBox((100.0, 100.0), 80.0, 90.0, flip=True), 32)
    assert out.K is None
    # a quarter turn counter-clockwise on screen takes (x, y) to (y, -x), the mirror then to (-y, -x)
    assert np.allclose(out.keypoints_3d[:, 0], -sample.keypoints_3d[:, 1])
    assert np.allclose(out.keypoints_3d[:, 1], -sample.keypoints_3d[:, 0])


def test_boxes_around_keypoints_and_boxes():
    box = box_around(np.array([10.0, 20.0, 50.0, 40.0]), padding=1.5)
    assert box.center == (30.0, 30.0) and box.size == pytest.approx(60.0)
    keypoints = np.array([[0.0, 0.0], [10.0, 4.0], [999.0, 999.0]] + [[5.0, 2.0]] * 18)
    visibility = np.array([2, 1, 0] + [2] * 18)
    around = box_around_keypoints(keypoints, visibility, padding=2.0)
    assert around.center == (5.0, 2.0) and around.size == pytest.approx(20.0)
    with pytest.raises(ValueError, match="no extent"):
        box_around(np.array([5.0, 5.0, 5.0, 5.0]))
    with pytest.raises(ValueError, match="size"):
        CropBox((0.0, 0.0), 0.0)


def test_upright_rotation_stands_any_hand_upright_in_its_crop_mirrored_or_not():
    rng = np.random.default_rng(3)
    for _ in range(30):
        keypoints = rng.uniform(0, 400, (21, 2))
        rotation = upright_rotation(keypoints)
        for flip in (False, True):
            crop = apply_affine(keypoints, crop_affine(CropBox((200.0, 200.0), 300.0, rotation, flip), 128))
            direction = crop[MIDDLE_MCP] - crop[0]  # wrist to middle knuckle, in the crop
            assert abs(direction[0]) < 1e-9 * np.linalg.norm(direction) + 1e-9 and direction[1] < 0
    keypoints = np.zeros((21, 2))
    keypoints[MIDDLE_MCP] = (10.0, -10.0)  # leaning right, clockwise on screen: turned back by 45 degrees
    assert upright_rotation(keypoints) == pytest.approx(45.0)
    with pytest.raises(ValueError, match="coincide"):
        upright_rotation(np.zeros((21, 2)))
