"""Scoring a hand segmentation network on a set of whole images with masks: mask IoU.

Figures of :func:`evaluate_segmentation`, in each image's own pixels (the network's probabilities
brought back from its letterboxed input, as :meth:`~handpose.estimators.hand_segnet.HandSegNet.segment`
gives them to the hand finder), against the images' masks in RHD's classes (RHD, and handpose's
synthetic sets written in RHD's layout, ``handpose synth --format rhd``):

- ``iou_<class>`` for each class of the network (background, left, right; or background, hand),
  ``iou_hand`` for the hand whatever its side, and ``miou``, the mean over the classes: each the
  intersections over the unions summed over all images (pooled, so large hands weigh more);
- ``mean_image_iou_hand``: the hand IoU of each image averaged over the images where the mask or
  the prediction shows a hand (each image alike, small hands as much as large ones).

Only images with at least one usable hand reach the set (readers give one sample per hand; RHD's
reader keeps hands with ``min_visible_joints`` visible keypoints: 1 keeps nearly all).
"""

from __future__ import annotations

import numpy as np

from handpose.codecs.hand_masks import WHOLE_HAND, iou_counts, iou_figures, iou_names, rhd_labels
from handpose.data.detection_pipeline import group_by_image
from handpose.data.spec import DataSpec, parse_data_spec
from handpose.estimators.hand_segnet import HandSegNet
from handpose.structures import SampleError


def evaluate_segmentation(
    estimator: HandSegNet, data_spec: str | DataSpec, batch_size: int = 8
) -> dict[str, float | int]:
    """Segment every image of ``data_spec`` (``FMT:PATH?options``) with ``estimator`` and score
    its masks (see the module docstring)."""
    spec = parse_data_spec(data_spec) if isinstance(data_spec, str) else data_spec
    images = group_by_image(spec.read().samples)
    if not images:
        raise ValueError(f"{spec}: no images to evaluate")
    codec = estimator.codec
    counts = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        pixels = [entry.sample.load_image() for entry in chunk]
        for entry, found in zip(chunk, estimator.segment(pixels, batch_size=batch_size)):
            mask = entry.sample.load_mask()
            if mask is None:
                raise SampleError(f"{spec}: image {entry.sample.image} has no mask to score against")
            truth = codec.class_labels(rhd_labels(mask))
            counts.append(iou_counts(codec.labels(found.probabilities), truth, codec.sides))
    per_image = np.stack(counts)
    hand = iou_names(codec.sides).index(WHOLE_HAND)
    intersections, unions = per_image[:, hand, 0], per_image[:, hand, 1]
    shown = unions > 0
    return {
        "images": len(images),
        **iou_figures(per_image, codec.sides),
        "mean_image_iou_hand": float(np.mean(intersections[shown] / unions[shown])) if shown.any() else float("nan"),
    }
