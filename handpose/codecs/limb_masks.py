"""NSRM's limb masks: the hand's structure drawn from its keypoints, as auxiliary targets.

Chen et al., "Nonparametric Structure Regularization Machine for 2D Hand Pose Estimation"
(WACV 2020) supervise part of a CPM with masks of the hand's limbs (its 20 bones), so the network
learns the hand's structure and not only isolated points. Per bone, with d the distance of a
heatmap pixel centre to the bone segment and ``width`` in heatmap pixels:

- LDM (limb deterministic mask): 1 where d <= width, else 0;
- LPM (limb probabilistic mask): exp(-d^2 / (2 width^2)), a soft ridge along the bone.

Bones are merged by their maximum into channels: "G1" is one mask of the whole hand; "G6" the
paper's six anatomical groups, the five fingers and the palm (the five bones leaving the wrist);
"G1G6" both, for 7 channels, the paper's best. Unlike NSRM's reference code, which keeps the LDM
to the rectangle beside the segment, both masks measure the distance to the segment itself, so
each limb ends in a round cap and consecutive limbs join at their knuckle.

There is no ``decode``: the masks are a training signal, and keypoints are read from heatmaps.
"""

from __future__ import annotations

import numpy as np

from handpose.codecs.heatmap_grid import HeatmapGrid, Size
from handpose.skeleton import BONES, FINGER_NAMES, FINGER_OF_JOINT, NUM_JOINTS, WRIST

LIMB_MASK_MODES: tuple[str, ...] = ("ldm", "lpm")

_ALL_BONES = tuple(range(len(BONES)))
_PALM_BONES = tuple(i for i, (parent, _) in enumerate(BONES) if parent == WRIST)
_FINGER_BONES = {
    name: tuple(i for i, (parent, child) in enumerate(BONES) if parent != WRIST and FINGER_OF_JOINT[child] == f)
    for f, name in enumerate(FINGER_NAMES)
}

_SIX_GROUPS = tuple(_FINGER_BONES.items()) + (("palm", _PALM_BONES),)

#: Channels of each grouping: (name, indices into handpose.skeleton.BONES), in channel order.
LIMB_GROUPS: dict[str, tuple[tuple[str, tuple[int, ...]], ...]] = {
    "G1": (("hand", _ALL_BONES),),
    "G6": _SIX_GROUPS,
    "G1G6": (("hand", _ALL_BONES),) + _SIX_GROUPS,
}


class LimbMaskCodec:
    """Encode keypoints in input pixels as NSRM limb masks on the heatmap grid.

    ``mode`` is "ldm" or "lpm"; ``groups`` is "G1", "G6" or "G1G6" (any case); ``width`` (heatmap
    pixels) is the LDM's half-width or the LPM's sigma (NSRM uses 1 at stride 8).
    """

    def __init__(
        self,
        input_size: Size,
        heatmap_size: Size,
        mode: str = "lpm",
        groups: str = "G1G6",
        width: float = 1.0,
    ) -> None:
        if mode not in LIMB_MASK_MODES:
            raise ValueError(f"unknown limb mask mode {mode!r}; choose one of {', '.join(LIMB_MASK_MODES)}")
        if str(groups).upper() not in LIMB_GROUPS:
            raise ValueError(f"unknown limb groups {groups!r}; choose one of {', '.join(LIMB_GROUPS)}")
        if not width > 0:
            raise ValueError(f"width must be positive (heatmap pixels), got {width!r}")
        self.grid = HeatmapGrid.from_sizes(input_size, heatmap_size)
        self.mode = mode
        self.groups = str(groups).upper()
        self.width = float(width)

    @property
    def channel_names(self) -> tuple[str, ...]:
        """Names of the output channels, e.g. ("hand", "thumb", ..., "pinky", "palm")."""
        return tuple(name for name, _ in LIMB_GROUPS[self.groups])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(input_size={self.grid.input_size}, heatmap_size={self.grid.heatmap_size}, "
            f"mode={self.mode!r}, groups={self.groups!r}, width={self.width})"
        )

    def encode(self, keypoints: np.ndarray, visibility: np.ndarray) -> dict[str, np.ndarray]:
        """Masks for keypoints (..., 21, 2) in input pixels with visibility flags (..., 21).

        Returns ``{"masks": float32 (..., C, h, w), "weights": float32 (..., C)}``. Bones with an
        unlabelled end are left out. A channel's weight is the share of its bones that are
        labelled: 1 for a complete mask, 0 for an empty one, and in between for a partial mask,
        whose missing limbs would otherwise be taught as background at full weight.
        """
        keypoints = np.asarray(keypoints, dtype=np.float64)
        visibility = np.asarray(visibility)
        if keypoints.shape[-2:] != (NUM_JOINTS, 2) or keypoints.shape[:-1] != visibility.shape:
            raise ValueError(
                f"keypoints must be (..., 21, 2) and visibility (..., 21), got {keypoints.shape} and {visibility.shape}"
            )
        labelled = (visibility > 0) & np.isfinite(keypoints).all(axis=-1)
        parents = np.array([p for p, _ in BONES])
        children = np.array([c for _, c in BONES])
        bone_labelled = labelled[..., parents] & labelled[..., children]
        points = np.where(labelled[..., None], self.grid.to_heatmap(keypoints), 0.0)
        distances = self._distances_to_bones(points[..., parents, :], points[..., children, :])
        if self.mode == "ldm":
            limb_masks = (distances <= self.width).astype(np.float64)
        else:
            limb_masks = np.exp(-0.5 * (distances / self.width) ** 2)
        limb_masks *= bone_labelled[..., None, None]
        channels = [list(bones) for _, bones in LIMB_GROUPS[self.groups]]
        masks = np.stack([limb_masks[..., bones, :, :].max(axis=-3) for bones in channels], axis=-3)
        weights = np.stack([bone_labelled[..., bones].mean(axis=-1) for bones in channels], axis=-1)
        return {"masks": masks.astype(np.float32), "weights": weights.astype(np.float32)}

    def _distances_to_bones(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """(..., B, h, w) distance from each heatmap pixel centre to each segment starts -> ends (..., B, 2)."""
        width, height = self.grid.heatmap_size
        xs = np.arange(width, dtype=np.float64)
        ys = np.arange(height, dtype=np.float64)[:, None]
        to_x = xs - starts[..., 0, None, None]  # (..., B, 1, w)
        to_y = ys - starts[..., 1, None, None]  # (..., B, h, 1)
        along = ends - starts
        dx, dy = along[..., 0, None, None], along[..., 1, None, None]
        length2 = dx * dx + dy * dy
        # Position of the closest point on the segment as a fraction of its length; 0 for a bone of
        # length 0, whose segment is a point.
        t = np.clip((to_x * dx + to_y * dy) / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
        return np.hypot(to_x - t * dx, to_y - t * dy)
