"""The square crop used everywhere (training, evaluation, inference), exact to the half-pixel.

A :class:`CropBox` is a square region of the source image; :func:`crop_affine` maps source pixels
to the pixels of an ``output_size`` x ``output_size`` crop of it. Pixel coordinates follow
:mod:`handpose.geometry.camera` (centre of the top-left pixel at 0, 0), so the box's edges land on
the crop's outer pixel edges, -0.5 and output_size - 0.5, and its centre on (output_size - 1) / 2.
cv2.warpAffine samples with the same convention, so images and keypoints stay in register.

The crop also keeps 3D consistent: :func:`crop_camera` turns K into the K of the crop together
with a rotation about the optical axis for camera-frame points (a mirror when flipped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from handpose.geometry.camera import apply_affine, compose_affines, invert_affine
from handpose.geometry.flip import mirror_matrix, opposite_side
from handpose.skeleton import FINGERS, WRIST
from handpose.structures import HandSample, keypoint_box

#: The middle finger's knuckle: with the wrist, the hand's in-plane direction.
MIDDLE_MCP = FINGERS["middle"][0]


@dataclass(frozen=True)
class CropBox:
    """A square region of the source image: centre (x, y) and side in source pixels.

    ``rotation`` (degrees) turns the image content counter-clockwise on screen inside the crop,
    as cv2.getRotationMatrix2D does (the box itself is turned clockwise in the source image).
    ``flip`` mirrors the crop horizontally after the rotation, turning a left hand into a right one.
    """

    center: tuple[float, float]
    size: float
    rotation: float = 0.0
    flip: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.size) and self.size > 0):
            raise ValueError(f"CropBox size must be a positive finite number of pixels, got {self.size}")
        if len(self.center) != 2 or not all(math.isfinite(c) for c in self.center):
            raise ValueError(f"CropBox center must be two finite pixel coordinates, got {self.center}")
        if not math.isfinite(self.rotation):
            raise ValueError(f"CropBox rotation must be finite, got {self.rotation}")


def crop_affine(box: CropBox, output_size: int) -> np.ndarray:
    """The (2, 3) affine from source pixels to the pixels of an output_size x output_size crop."""
    if output_size <= 0:
        raise ValueError(f"output_size must be positive, got {output_size}")
    zoom = output_size / box.size
    angle = math.radians(box.rotation)
    cos, sin = math.cos(angle), math.sin(angle)
    linear = zoom * np.array([[cos, sin], [-sin, cos]])
    middle = (output_size - 1) / 2.0
    shift = middle - linear @ np.asarray(box.center, dtype=np.float64)
    affine = np.concatenate([linear, shift[:, None]], axis=1)
    if box.flip:
        affine = compose_affines(mirror_matrix(output_size)[:2], affine)
    return affine


def crop_image(
    image: np.ndarray, box: CropBox, output_size: int, interpolation: int = cv2.INTER_LINEAR
) -> np.ndarray:
    """Cut ``box`` out of ``image`` at output_size x output_size; use cv2.INTER_NEAREST for masks and depth.

    Outside the source image the crop is 0.
    """
    return _warp(image, crop_affine(box, output_size), output_size, interpolation)


def _warp(image: np.ndarray, affine: np.ndarray, output_size: int, interpolation: int) -> np.ndarray:
    return cv2.warpAffine(
        np.asarray(image),
        np.asarray(affine, dtype=np.float64),
        (output_size, output_size),
        flags=interpolation,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def crop_camera(K: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intrinsics of the warped image and the camera-frame rotation that goes with them.

    Returns ``(K_new, R)`` with ``project(X @ R.T, K_new) == apply_affine(project(X, K), affine)``.
    ``affine @ K`` (as 3x3) is split into an upper-triangular K_new with positive focal lengths
    and an orthogonal R about the optical axis (an RQ decomposition of its 2x2 part). R is a
    rotation, or a rotation times :data:`handpose.geometry.flip.MIRROR_3D` when the affine mirrors.
    With fx == fy and no skew, R is exactly the in-plane rotation of the crop and K_new has no
    skew; with fx != fy a rotated crop is not a pinhole camera without skew, so K_new[0, 1] != 0.
    Depth (z) is unchanged. Batched over leading dimensions of K and affine.
    """
    K = np.asarray(K, dtype=np.float64)
    affine = np.asarray(affine, dtype=np.float64)
    if K.shape[-2:] != (3, 3) or not np.allclose(K[..., 2, :], [0.0, 0.0, 1.0]):
        raise ValueError(f"K must be (..., 3, 3) intrinsics with last row (0, 0, 1), got shape {K.shape}")
    linear = affine[..., :2] @ K[..., :2, :2]
    lower = linear[..., 1, :]
    focal_y = np.linalg.norm(lower, axis=-1)
    row_y = lower / focal_y[..., None]
    row_x = np.stack([row_y[..., 1], -row_y[..., 0]], axis=-1)
    focal_x = np.einsum("...i,...i->...", linear[..., 0, :], row_x)
    sign = np.where(focal_x < 0, -1.0, 1.0)
    row_x, focal_x = row_x * sign[..., None], focal_x * sign
    skew = np.einsum("...i,...i->...", linear[..., 0, :], row_y)
    principal = np.einsum("...ij,...j->...i", affine[..., :2], K[..., :2, 2]) + affine[..., 2]

    batch = np.broadcast_shapes(K.shape[:-2], affine.shape[:-2])
    K_new = np.zeros(batch + (3, 3))
    K_new[..., 0, 0], K_new[..., 0, 1], K_new[..., 1, 1] = focal_x, skew, focal_y
    K_new[..., :2, 2] = principal
    K_new[..., 2, 2] = 1.0
    R = np.zeros(batch + (3, 3))
    R[..., 0, :2], R[..., 1, :2] = row_x, row_y
    R[..., 2, 2] = 1.0
    return K_new, R


def crop_sample(sample: HandSample, box: CropBox, output_size: int) -> HandSample:
    """The sample seen through the crop: image, mask, depth, 2D and 3D keypoints, K, box, hand side.

    Mask and depth are warped with nearest-neighbour sampling. Visibility flags are kept (a joint
    may fall outside the crop). ``box`` becomes the axis-aligned bounds of the transformed hand
    box. ``extras["crop_affine"]`` maps the original image to the crop (composed with an earlier
    crop or flip of the same sample); on a flip ``extras["flipped"]`` toggles and the side swaps.
    """
    affine = crop_affine(box, output_size)
    image = _warp(sample.load_image(), affine, output_size, cv2.INTER_LINEAR)
    mask, depth = (
        None if pixel_map is None else _warp(pixel_map, affine, output_size, cv2.INTER_NEAREST)
        for pixel_map in (sample.load_mask(), sample.load_depth())
    )
    x0, y0, x1, y1 = np.asarray(sample.box, dtype=np.float64)
    corners = apply_affine(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), affine)

    K_new = None
    if sample.K is not None:
        K_new, rotation = crop_camera(sample.K, affine)
    else:
        rotation = crop_camera(np.eye(3), affine)[1]
    keypoints_3d = None
    if sample.keypoints_3d is not None:
        keypoints_3d = np.asarray(sample.keypoints_3d, dtype=np.float64) @ rotation.T

    extras = dict(sample.extras)
    earlier = extras.get("crop_affine")
    extras["crop_affine"] = affine if earlier is None else compose_affines(affine, earlier)
    if box.flip:
        extras["flipped"] = not bool(extras.get("flipped", False))
    return replace(
        sample,
        image=image,
        keypoints_2d=apply_affine(sample.keypoints_2d, affine),
        box=np.concatenate([corners.min(axis=0), corners.max(axis=0)]),
        hand_side=opposite_side(sample.hand_side) if box.flip else sample.hand_side,
        keypoints_3d=keypoints_3d,
        K=K_new,
        mask=mask,
        depth=depth,
        extras=extras,
    )


def uncrop_keypoints(keypoints: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Map crop pixels (..., N, 2) back to source pixels; affine (2, 3) or batched (..., 2, 3)."""
    return apply_affine(keypoints, invert_affine(affine))


def uncrop_points_3d(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Turn 3D points (..., N, 3) from a crop's camera frame back into the source image's.

    :func:`crop_sample` turns 3D by the rotation (times a mirror for a flipped crop) that
    :func:`crop_camera` finds from the affine: crop points are source points @ R.T, so source
    points are crop points @ R. Exact for square pixels (fx == fy). Affine (2, 3) or batched.
    """
    rotation = crop_camera(np.eye(3), np.asarray(affine, dtype=np.float64))[1]
    return np.einsum("...nj,...ji->...ni", np.asarray(points, dtype=np.float64), rotation)


def box_around(box_xyxy: np.ndarray, padding: float = 1.5) -> CropBox:
    """The square crop centred on an x0, y0, x1, y1 box, ``padding`` times its longer side."""
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box_xyxy, dtype=np.float64))
    side = padding * max(x1 - x0, y1 - y0)
    if not side > 0:
        raise ValueError(f"cannot centre a crop on box {[x0, y0, x1, y1]} with padding {padding}: no extent")
    return CropBox(center=((x0 + x1) / 2.0, (y0 + y1) / 2.0), size=side)


def box_around_keypoints(keypoints_2d: np.ndarray, visibility: np.ndarray, padding: float = 1.5) -> CropBox:
    """The square crop around the labelled keypoints, ``padding`` times the longer side of their box."""
    return box_around(keypoint_box(keypoints_2d, visibility), padding)


def upright_rotation(keypoints_2d: np.ndarray) -> float:
    """The :attr:`CropBox.rotation` (degrees) that turns a hand upright in its crop: the wrist
    below its middle-finger knuckle, fingers up, as MediaPipe's landmark network sees its hands.

    A network shown upright hands only spends none of its capacity on in-plane orientation; the
    crop's mirror (``flip``) comes after the rotation and keeps the hand upright.
    """
    kp = np.asarray(keypoints_2d, dtype=np.float64)
    dx, dy = kp[MIDDLE_MCP] - kp[WRIST]
    if not (math.isfinite(dx) and math.isfinite(dy)) or math.hypot(dx, dy) == 0:
        raise ValueError("upright_rotation: the wrist and the middle-finger knuckle coincide or are not finite")
    return math.degrees(math.atan2(dx, -dy))  # how far the hand leans clockwise from upright on screen
