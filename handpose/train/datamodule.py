"""The Lightning data module: a config's sources as training and validation loaders."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Sampler

from handpose.data.pipeline import mixed_loader_parts
from handpose.estimators import Estimator
from handpose.train.config import ConfigError, ExperimentConfig
from handpose.train.sources import SYNTH_FORMAT, SourceSamples, prepare_synth, resolve_sources


class PoseDataModule(pl.LightningDataModule):
    """Every source's Dataset, as the estimator builds it, training ones mixed by their weights.

    One training source without ``data.samples_per_epoch`` is simply shuffled; otherwise each
    epoch draws ``samples_per_epoch`` items (default: as many as the training sets hold),
    picking source d with probability weight_d / sum(weights).

    ``estimator`` builds the Datasets (:meth:`~handpose.estimators.Estimator.training_dataset`).
    """

    def __init__(self, config: ExperimentConfig, estimator: Estimator) -> None:
        super().__init__()
        self.config = config
        self.estimator = estimator
        self.train_set: Dataset | None = None
        self.val_set: ConcatDataset | None = None
        self._train_sampler: Sampler | None = None

    def prepare_data(self) -> None:
        """Generate missing synthetic sets (once per node, before any process reads them)."""
        data = self.config.data
        for source in [*data.train, *data.val]:
            if source.format == SYNTH_FORMAT:
                prepare_synth(source, data.cache_dir, workers=max(1, data.workers))

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train, val = resolve_sources(self.config.data)
        train_sets = [self._dataset(part, augment=True, seed=self.config.seed + i) for i, part in enumerate(train)]
        total = sum(len(d) for d in train_sets)
        if total < self.config.data.batch_size:
            raise ConfigError(f"data.batch_size {self.config.data.batch_size} exceeds the {total} training samples")
        if len(train_sets) == 1 and self.config.data.samples_per_epoch is None:
            self.train_set = train_sets[0]
        else:
            self.train_set, self._train_sampler = mixed_loader_parts(
                train_sets,
                [part.source.weight for part in train],
                self.config.data.samples_per_epoch or total,
                seed=self.config.seed,
            )
        self.val_set = ConcatDataset([self._dataset(part, augment=False, seed=self.config.seed) for part in val])

    def _dataset(self, part: SourceSamples, augment: bool, seed: int) -> Dataset:
        """One source's Dataset; each training source gets its own seed, so sample i of two
        sources is not cropped alike."""
        return self.estimator.training_dataset(part.samples, self.config.augment if augment else None, seed)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=self._train_sampler is None, sampler=self._train_sampler, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False, sampler=None, train=False)

    def _loader(self, dataset: Dataset, shuffle: bool, sampler: Sampler | None, train: bool) -> DataLoader:
        workers = self.config.data.workers
        return DataLoader(
            dataset,
            batch_size=self.config.data.batch_size,
            shuffle=shuffle,
            sampler=sampler,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=torch.cuda.is_available(),
            drop_last=train,  # a last batch of one or two crops gives BatchNorm noisy statistics
        )
