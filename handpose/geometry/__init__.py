"""Camera geometry: projection, crops that keep 2D, 3D and K consistent, flips, canonical frames."""

from handpose.geometry.camera import (
    apply_affine,
    backproject,
    compose_affines,
    intrinsics,
    invert_affine,
    project,
)
from handpose.geometry.canonical import CANONICAL_SIDE, CanonicalPose, from_canonical, to_canonical
from handpose.geometry.crop import (
    CropBox,
    box_around,
    box_around_keypoints,
    crop_affine,
    crop_camera,
    crop_image,
    crop_sample,
    uncrop_keypoints,
)
from handpose.geometry.flip import (
    MIRROR_3D,
    flip_sample,
    mirror_intrinsics,
    mirror_matrix,
    opposite_side,
    to_right_hand,
)

__all__ = [
    "CANONICAL_SIDE",
    "CanonicalPose",
    "CropBox",
    "MIRROR_3D",
    "apply_affine",
    "backproject",
    "box_around",
    "box_around_keypoints",
    "compose_affines",
    "crop_affine",
    "crop_camera",
    "crop_image",
    "crop_sample",
    "flip_sample",
    "from_canonical",
    "intrinsics",
    "invert_affine",
    "mirror_intrinsics",
    "mirror_matrix",
    "opposite_side",
    "project",
    "to_canonical",
    "to_right_hand",
    "uncrop_keypoints",
]
