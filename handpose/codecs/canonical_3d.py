"""Zimmermann & Brox's 3D targets: canonical coordinates and the viewpoint rotation of a crop.

PosePrior and ViewPoint (:mod:`handpose.models.pose_prior`) learn 3D in two parts that one crop
can tell without the hand's size or distance: the hand's shape in the canonical frame of
:func:`handpose.geometry.canonical.to_canonical` (root at the origin, lengths in units of the
middle finger's first phalanx, the palm turned to a fixed orientation, right hands mirrored in z
so that both sides share a left hand's frame) and the rotation that turns that shape back into the
crop's camera frame. Both are taken from the crop's 3D keypoints, which
:func:`~handpose.geometry.crop.crop_sample` turns with the crop (its in-plane rotation, and the
mirror of a flipped crop, which also swaps the side), so they describe what the network sees.
The side used is the crop's: a left hand mirrored to a right one by a ``flip_to_right`` crop is
encoded as the right hand it has become.

The codec encodes a whole cropped sample (:meth:`Canonical3DCodec.encode_crop`, which
:class:`~handpose.data.pipeline.HandPoseDataset` calls). A crop whose frame is undefined -- no 3D,
no side, or one of the four joints the frame is built from unlabelled or degenerate -- gets
``valid`` 0 and zero weights, so 2D-only data mixed into training teaches the 2D part alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from handpose.codecs.bone_vectors import BoneVectorCodec
from handpose.geometry.canonical import MIDDLE_MCP, MIDDLE_PIP, PINKY_MCP, CanonicalPose, from_canonical, to_canonical
from handpose.skeleton import NUM_JOINTS, ROOT
from handpose.structures import HandSample

#: The joints :func:`~handpose.geometry.canonical.to_canonical` builds the frame from.
FRAME_JOINTS = (ROOT, MIDDLE_MCP, MIDDLE_PIP, PINKY_MCP)


class Canonical3DCodec:
    """Encode a crop's 3D keypoints as canonical coordinates and viewpoint; compose them back."""

    def __init__(self) -> None:
        self._root_relative = BoneVectorCodec()  # its root-relative 3D and labels, for 3D validation

    def encode_crop(self, crop: HandSample) -> dict[str, np.ndarray]:
        """Targets of one cropped sample, all float32:

        - "coords" (21, 3): canonical coordinates (middle-phalanx units), 0 where not weighted;
        - "weights" (21,): 1 for a joint whose coordinates are known (it is labelled in 3D and the
          frame is defined), else 0;
        - "rotation" (3, 3): :attr:`~handpose.geometry.canonical.CanonicalPose.rotation`, which
          takes a row of canonical coordinates to the crop's camera frame (the identity where
          ``valid`` is 0);
        - "valid" (): 1 where the frame is defined, else 0;
        - "right" (): 1 for a right hand in the crop, 0 for a left one (the side the canonical
          frame was mirrored for, the networks' hand-side input);
        - "keypoints_3d" (21, 3) and "labelled_3d" (21,): the crop's root-relative 3D in mm and
          where it is known, as :class:`~handpose.codecs.BoneVectorCodec` gives them (for 3D
          validation in the crop's frame).
        """
        relative = self._root_relative.encode_crop(crop)
        keypoints, labelled = relative["keypoints_3d"].astype(np.float64), relative["labelled_3d"] > 0
        coords, rotation, valid = np.zeros((NUM_JOINTS, 3)), np.eye(3), False
        if crop.hand_side in ("left", "right") and labelled[list(FRAME_JOINTS)].all():
            try:
                pose = to_canonical(keypoints, crop.hand_side)
            except ValueError:  # coincident or collinear frame joints: no frame to learn
                pass
            else:
                coords, rotation, valid = pose.coords, pose.rotation, True
        weights = labelled & valid
        return {
            "coords": np.where(weights[:, None], coords, 0.0).astype(np.float32),
            "weights": weights.astype(np.float32),
            "rotation": rotation.astype(np.float32),
            "valid": np.float32(valid),
            "right": np.float32(crop.hand_side == "right"),
            "keypoints_3d": relative["keypoints_3d"],
            "labelled_3d": relative["labelled_3d"],
        }

    @staticmethod
    def decode(coords: np.ndarray, rotation: np.ndarray, hand_side: str | Sequence[str] | np.ndarray) -> np.ndarray:
        """Root-relative camera-frame 3D (..., 21, 3) in middle-phalanx units from canonical
        coordinates (..., 21, 3) and rotations (..., 3, 3): the canonical frame's inverse
        (:func:`~handpose.geometry.canonical.from_canonical`) at unit scale and the root at the origin."""
        coords = np.asarray(coords, dtype=np.float64)
        batch = coords.shape[:-2]
        rotation = np.asarray(rotation, dtype=np.float64)
        pose = CanonicalPose(coords=coords, rotation=rotation, scale=np.ones(batch), root=np.zeros(batch + (3,)))
        return from_canonical(pose, hand_side)
