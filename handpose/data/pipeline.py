"""The torch Dataset that turns hand samples into training batches, and weighted dataset mixing.

Each item is the hand cropped to ``input_size`` (randomly when augmenting, see
:mod:`handpose.data.augment`), the targets an estimator declares (each encoded by its codec, so
the Dataset knows no model) and what is needed to map predictions back to the source image.
Randomness depends only on (seed, epoch, index), so a run gives the same batches whatever the
number of loader workers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, Subset, WeightedRandomSampler

from handpose.codecs.image_normalization import normalize_image
from handpose.codecs.target_codec import TargetCodec
from handpose.data.augment import AugmentConfig, evaluation_crop_box, photometric, sample_crop_box, shows_wrong_side
from handpose.geometry.crop import crop_affine, crop_sample
from handpose.structures import HandSample, SampleError


class SeededDataset(Dataset):
    """A Dataset whose item i of epoch e is drawn from the random state (seed, e, i) only, so a run
    gives the same batches whatever the number of loader workers, and an item that fails names
    its sample. Subclasses set ``self.seed`` and implement ``__len__``, :meth:`_prepare` and
    :meth:`_where`. Call :meth:`set_epoch` before each epoch: the epoch sits in shared memory, so
    loader workers (persistent ones too) see it."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Choose the random draws of this epoch (deterministic per seed, epoch and index)."""
        self._epoch.fill_(int(epoch))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        try:
            item = self._prepare(int(index), np.random.default_rng((self.seed, self.epoch, int(index))))
        except SampleError:
            raise
        except Exception as error:
            raise SampleError(f"{self._where(int(index))}: could not be prepared: {type(error).__name__}: {error}") from error
        item["index"] = torch.tensor(int(index), dtype=torch.int64)
        return item

    def _prepare(self, index: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _where(self, index: int) -> str:
        """Item ``index``'s sample and file, for error messages."""
        raise NotImplementedError


def describe_sample(sample: HandSample) -> str:
    """``source sample 'id' (file path)``: how errors name a sample."""
    where = f"{sample.source} sample {sample.sample_id!r}"
    return where + (f" (file {sample.image})" if isinstance(sample.image, Path) else "")


class HandPoseDataset(SeededDataset):
    """Hand samples as dicts of tensors for training or evaluation.

    Items: "image" float32 (3, S, S) normalised; "targets" {name: {key: float32 tensor}}, one
    entry per codec of ``targets`` (an estimator's :attr:`~handpose.estimators.Estimator.targets`)
    holding what its ``encode`` returns, or its ``encode_crop`` where it has one (given the whole
    cropped sample: 3D keypoints and K in the crop's camera frame, hand side); "keypoints" float32
    (21, 2) in crop pixels (0 where unlabelled); "visibility" int8 (21,);
    "affine" float64 (2, 3) from the sample's image to the crop (undo with
    :func:`~handpose.geometry.crop.uncrop_keypoints`); "flipped" bool (the crop mirrors that
    image, so the hand shows its other side); "index" int64.

    Without ``augment`` the crop is the annotated box with ``padding``. ``flip_to_right`` mirrors
    left hands (and must agree with ``augment.flip_to_right``); hands of unknown side stay as
    they are. Call :meth:`set_epoch` before each epoch.
    """

    def __init__(
        self,
        samples: Sequence[HandSample],
        targets: Mapping[str, TargetCodec],
        input_size: int,
        augment: AugmentConfig | None = None,
        padding: float = 1.5,
        flip_to_right: bool = True,
        seed: int = 0,
    ) -> None:
        if augment is not None and augment.flip_to_right != flip_to_right:
            raise ValueError(
                f"HandPoseDataset: flip_to_right={flip_to_right} but augment.flip_to_right={augment.flip_to_right}; "
                "set both the same"
            )
        if input_size <= 0 or padding <= 0:
            raise ValueError(f"HandPoseDataset: input_size and padding must be positive, got {input_size}, {padding}")
        if augment is not None and augment.wrong_side_probability > 0:
            mute = [name for name, codec in targets.items() if not hasattr(codec, "encode_absent")]
            if mute:
                raise ValueError(
                    f"augment.wrong_side_probability: the target {mute[0]!r} cannot say that no hand is there; "
                    "leave it at 0 for this estimator"
                )
        super().__init__(seed)
        self.samples = samples
        self.targets = dict(targets)
        self.input_size = int(input_size)
        self.augment = augment
        self.padding = float(padding)
        self.flip_to_right = flip_to_right

    def __len__(self) -> int:
        return len(self.samples)

    def _where(self, index: int) -> str:
        return describe_sample(self.samples[index])

    def _prepare(self, index: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        sample = replace(self.samples[index].validate(), mask=None, depth=None)  # no codec needs them; 3D and K go on
        if self.augment is None:
            box = evaluation_crop_box(sample, self.padding, self.flip_to_right)
        else:
            box = sample_crop_box(sample, self.augment, rng, self.padding)
        crop = crop_sample(sample, box, self.input_size)
        image = crop.image if self.augment is None else photometric(crop.image, self.augment, rng, hand_box=crop.box)
        labelled = crop.labelled
        keypoints = np.where(labelled[:, None], crop.keypoints_2d, 0.0)
        absent = self.augment is not None and shows_wrong_side(sample, box, self.flip_to_right)
        targets = {
            name: {
                key: torch.as_tensor(np.asarray(value), dtype=torch.float32)
                for key, value in (codec.encode_absent(len(keypoints)) if absent else _encode(codec, crop, keypoints)).items()
            }
            for name, codec in self.targets.items()
        }
        return {
            "image": normalize_image(image),
            "targets": targets,
            "keypoints": torch.as_tensor(keypoints, dtype=torch.float32),
            "visibility": torch.as_tensor(np.asarray(crop.visibility), dtype=torch.int8),
            "affine": torch.as_tensor(crop_affine(box, self.input_size)),
            "flipped": torch.tensor(box.flip),
        }


def _encode(codec: TargetCodec, crop: HandSample, keypoints: np.ndarray) -> Mapping[str, np.ndarray]:
    """A codec's arrays for one crop: from the whole cropped sample when the codec encodes crops
    (``encode_crop``, e.g. 3D targets, which need the crop's 3D keypoints), else from its 2D
    keypoints (0 where unlabelled) and visibility flags."""
    encode_crop = getattr(codec, "encode_crop", None)
    return encode_crop(crop) if encode_crop is not None else codec.encode(keypoints, crop.visibility)


def set_dataset_epoch(dataset: Dataset, epoch: int) -> None:
    """Call ``set_epoch`` on every dataset inside ``dataset`` (through ConcatDataset and Subset)."""
    if isinstance(dataset, ConcatDataset):
        for part in dataset.datasets:
            set_dataset_epoch(part, epoch)
    elif isinstance(dataset, Subset):
        set_dataset_epoch(dataset.dataset, epoch)
    elif hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)


def mixed_loader_parts(
    datasets: Sequence[Dataset], weights: Sequence[float], num_samples: int, seed: int = 0
) -> tuple[ConcatDataset, WeightedRandomSampler]:
    """A dataset and sampler that draw from ``datasets`` in the proportions ``weights``.

    As Hand4Whole mixes datasets in a batch: each draw picks dataset d with probability
    weights[d] / sum(weights), whatever its size, then one of its samples uniformly (with
    replacement). Pass both to a DataLoader (``sampler=``); ``num_samples`` draws make an epoch.
    Give the datasets different seeds, or sample i of each would get the same random crop.
    """
    if len(datasets) != len(weights) or not datasets:
        raise ValueError(f"need one weight per dataset, got {len(datasets)} datasets and {len(weights)} weights")
    sizes = [len(d) for d in datasets]
    if min(sizes) == 0:
        raise ValueError(f"cannot mix an empty dataset (sizes {sizes})")
    if not all(np.isfinite(w) and w > 0 for w in weights):
        raise ValueError(f"mixing weights must be positive and finite, got {list(weights)}")
    per_sample = np.concatenate([np.full(n, w / (n * sum(weights))) for n, w in zip(sizes, weights)])
    generator = torch.Generator().manual_seed(int(seed))
    sampler = WeightedRandomSampler(per_sample.tolist(), num_samples, replacement=True, generator=generator)
    return ConcatDataset(datasets), sampler
