"""Fitting a side head onto trained pose weights (``handpose side-head``).

The network stays exactly as it is; only :class:`~handpose.models.side_head.SideHead` is fitted,
on crops of hands whose side is labelled (by default the generator's own, never a real frame). Each
hand gives two crops, its annotated box as it is and mirrored, labelled by the side each shows, so
the head learns the look of a side and not how often each side occurs. The crops are those of
evaluation (the box with the estimator's padding, no augmentation), as the Predictor cuts them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from handpose.data.augment import evaluation_crop_box
from handpose.data.readers import read_dataset
from handpose.estimators.heatmap_3d_head import Heatmap3DHeadEstimator
from handpose.geometry.crop import crop_image
from handpose.models.side_head import fit_side_head, pooled_maps
from handpose.structures import HandSample
from handpose.synth.cache import prepare_synth_set

#: The default fit: this many synthetic hands with a side, from this many images of seed 1 (about
#: 1.1 hands an image); ``handpose side-head`` and ``handpose adapt`` fit on them.
SIDE_HANDS, SIDE_IMAGES = 3000, 4000


def synthetic_side_samples(
    hands: int = SIDE_HANDS, cache_dir: str | Path = Path("runs") / "cache"
) -> tuple[list[HandSample], str]:
    """The first ``hands`` sided hands of the generator's seed 1 (256 px, generated once into
    ``cache_dir``), and a line saying where they come from, for the weights' metadata."""
    images = math.ceil(hands * SIDE_IMAGES / SIDE_HANDS)
    annotation = prepare_synth_set(images, 1, 256, cache_dir, workers=2)
    samples = [s for s in read_dataset("coco", annotation).samples if s.hand_side in ("left", "right")]
    return samples[:hands], f"synthetic, seed 1, {images} images"


def pooled_crops(
    estimator: Heatmap3DHeadEstimator, samples: Sequence[HandSample], batch_size: int = 32, progress: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """The pooled maps (2N, C) of each sample's crop as it is and mirrored (in that order, sample
    by sample) and whether each shows a right hand (2N,)."""
    unlabelled = [s.sample_id for s in samples if s.hand_side not in ("left", "right")]
    if unlabelled:
        raise ValueError(f"{len(unlabelled)} samples have no hand side to learn from, e.g. {unlabelled[0]!r}")
    estimator.eval()
    size, pooled = estimator.crop.input_size, []
    starts = range(0, len(samples), batch_size)
    for start in tqdm(starts, desc="side head crops", unit="batch", disable=not progress):
        crops = []
        for sample in samples[start:start + batch_size]:
            box = evaluation_crop_box(sample, estimator.crop.padding, flip_to_right=False)
            image = sample.load_image()
            crops += [crop_image(image, box, size), crop_image(image, replace(box, flip=True), size)]
        with torch.no_grad():
            features, head_map = estimator.network.forward_features(estimator.crop.normalize(np.stack(crops)))
            pooled.append(pooled_maps(features, head_map))
    right = torch.tensor([s.hand_side == "right" for s in samples])
    return torch.cat(pooled), torch.stack([right, ~right], dim=1).flatten()


def side_head_record(source: str, hands: int, cross_entropy: float) -> dict[str, object]:
    """What a weights file's ``metadata.side_head`` says of the fit: the hands' source and number,
    and the fit's final mean cross-entropy."""
    return {"fitted_on": source, "hands": hands, "cross_entropy": round(cross_entropy, 4)}


def add_side_head(
    estimator: Heatmap3DHeadEstimator, samples: Sequence[HandSample], batch_size: int = 32, progress: bool = True
) -> float:
    """Give ``estimator`` a side head (a new one) fitted on ``samples``; returns the fit's final
    mean cross-entropy. The network's weights are not touched."""
    if not isinstance(estimator, Heatmap3DHeadEstimator):
        raise ValueError(f"a side head needs a MobileNetV2 estimator with a 3D head, not {estimator.name!r}")
    pooled, shows_right = pooled_crops(estimator, samples, batch_size, progress)
    estimator.add_side_head()
    return fit_side_head(estimator.side_head, pooled, shows_right)  # type: ignore[arg-type]
