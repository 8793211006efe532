"""3D bone directions as a training target, as chainer-hand-pose regresses them.

The 20 bones' unit directions (parent to child, :data:`handpose.skeleton.BONES`) in the camera
frame of the crop: :func:`~handpose.geometry.crop.crop_sample` turns 3D keypoints with the crop
(its in-plane rotation, and the mirror of a flipped crop), so the directions are what the network
sees. Directions need no hand size and no root depth, which a single crop cannot know.

The codec needs the crop's 3D keypoints, so it encodes a whole cropped sample
(:meth:`BoneVectorCodec.encode_crop`, which :class:`~handpose.data.pipeline.HandPoseDataset`
calls) rather than 2D keypoints. Samples without 3D (2D-only datasets mixed into training) give
zero weights, so they train the 2D heatmaps alone.
"""

from __future__ import annotations

import numpy as np

from handpose.geometry.fit_3d import bone_directions
from handpose.metrics.alignment import root_relative
from handpose.skeleton import BONES, NUM_JOINTS, ROOT
from handpose.structures import HandSample

_PARENTS = np.array([parent for parent, _ in BONES])
_CHILDREN = np.array([child for _, child in BONES])


class BoneVectorCodec:
    """Encode a crop's 3D keypoints as bone directions with per-bone weights."""

    def encode_crop(self, crop: HandSample) -> dict[str, np.ndarray]:
        """Targets of one cropped sample, in its camera frame, all float32:

        - "directions" (20, 3): unit bone directions, 0 where a bone is not labelled;
        - "weights" (20,): 1 for a bone whose two ends are labelled in 3D and apart, else 0;
        - "keypoints_3d" (21, 3): root-relative mm, 0 where not labelled (for 3D validation);
        - "labelled_3d" (21,): 1 where a joint's root-relative 3D is known (it and the root are
          labelled in 3D), else 0.
        """
        labelled = np.zeros(NUM_JOINTS, dtype=bool)
        keypoints = np.zeros((NUM_JOINTS, 3))
        if crop.keypoints_3d is not None:
            keypoints = np.asarray(crop.keypoints_3d, dtype=np.float64)
            labelled = (np.asarray(crop.visibility) > 0) & np.isfinite(keypoints).all(axis=-1)
            keypoints = np.where(labelled[:, None], keypoints, 0.0)
        directions = bone_directions(keypoints)
        bone_labelled = labelled[_PARENTS] & labelled[_CHILDREN] & np.isfinite(directions).all(axis=-1)
        relative_known = labelled & labelled[ROOT]
        return {
            "directions": np.where(bone_labelled[:, None], directions, 0.0).astype(np.float32),
            "weights": bone_labelled.astype(np.float32),
            "keypoints_3d": np.where(relative_known[:, None], root_relative(keypoints), 0.0).astype(np.float32),
            "labelled_3d": relative_known.astype(np.float32),
        }
