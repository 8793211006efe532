"""Target codecs: encode keypoints to training targets, decode network output back to keypoints."""

from handpose.codecs.bone_vectors import BoneVectorCodec
from handpose.codecs.box_centers import BoxCenterCodec, DecodedBoxes, box_iou, nms
from handpose.codecs.gaussian_heatmap import GaussianHeatmapCodec
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
    "DECODERS",
    "DecodedBoxes",
    "GaussianHeatmapCodec",
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
