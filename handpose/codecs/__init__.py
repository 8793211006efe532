"""Target codecs: encode keypoints to training targets, decode network output back to keypoints."""

from handpose.codecs.bone_vectors import BoneVectorCodec
from handpose.codecs.box_centers import BoxCenterCodec, DecodedBoxes, box_iou, nms
from handpose.codecs.canonical_3d import Canonical3DCodec
from handpose.codecs.gaussian_heatmap import GaussianHeatmapCodec
from handpose.codecs.hand_masks import HandMaskCodec
from handpose.codecs.heatmap_decoding import (
    DECODERS,
    decode_argmax,
    decode_dark,
    decode_quarter,
    decode_soft_argmax,
    heatmap_decoder,
)
from handpose.codecs.heatmap_grid import HeatmapGrid
from handpose.codecs.limb_masks import LIMB_GROUPS, LIMB_MASK_MODES, LimbMaskCodec

__all__ = [
    "BoneVectorCodec",
    "BoxCenterCodec",
    "Canonical3DCodec",
    "DECODERS",
    "DecodedBoxes",
    "GaussianHeatmapCodec",
    "HandMaskCodec",
    "HeatmapGrid",
    "LIMB_GROUPS",
    "LIMB_MASK_MODES",
    "LimbMaskCodec",
    "box_iou",
    "decode_argmax",
    "decode_dark",
    "decode_quarter",
    "decode_soft_argmax",
    "heatmap_decoder",
    "nms",
]
