"""The Lightning module: any estimator trained on its own loss, validated in crop pixels.

It knows nothing particular to a model: the estimator (:mod:`handpose.estimators`) owns targets,
loss and decoding.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch

from handpose.data.pipeline import set_dataset_epoch
from handpose.inference.weights import ESTIMATOR_SPEC_KEY
from handpose.train.build import build_estimator_from_config
from handpose.train.config import config_from_dict
from handpose.train.optim import build_lr_scheduler, build_optimizer



class PoseModule(pl.LightningModule):
    """Builds the estimator of an experiment config given as a plain dict.

    The dict is saved as the checkpoint's hyperparameters, and the estimator's spec (name and
    keyword arguments) beside them, so a checkpoint alone rebuilds the estimator
    (:func:`handpose.inference.weights.load_estimator`) without this package.

    Logged: ``train_loss`` (the optimised total) and ``train_<term>`` for every further term the
    estimator's loss returns; ``val_loss`` (its :meth:`~handpose.estimators.Estimator.validation_loss`)
    and ``val_<name>`` for each of its :meth:`~handpose.estimators.Estimator.validation_metrics`
    (for 2D keypoints ``val_epe_px``, the mean error in crop pixels, and ``val_auc``, the PCK AUC
    over ``validation.auc_range_px``).
    """

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config = config_from_dict(config)
        self.estimator = build_estimator_from_config(self.config)
        self._val_records: list[np.ndarray] = []

    def forward(self, images: torch.Tensor) -> dict:
        return self.estimator(images)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[ESTIMATOR_SPEC_KEY] = self.estimator.spec()

    def on_train_epoch_start(self) -> None:
        # The dataset draws its augmentation from (seed, epoch, index): give it this epoch.
        set_dataset_epoch(self.trainer.train_dataloader.dataset, self.current_epoch)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        terms = self.estimator.loss(self.estimator(batch["image"]), batch, self.current_epoch)
        size = len(batch["image"])
        self.log("train_loss", terms["loss"], on_step=True, on_epoch=True, prog_bar=True, batch_size=size, sync_dist=True)
        if len(terms) > 2:  # more than the total and one term equal to it
            for name, value in terms.items():
                if name != "loss":
                    self.log(f"train_{name}", value, on_step=False, on_epoch=True, batch_size=size, sync_dist=True)
        return terms["loss"]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        outputs = self.estimator(batch["image"])
        loss = self.estimator.validation_loss(outputs, batch)
        self.log("val_loss", loss, on_epoch=True, prog_bar=True, batch_size=len(batch["image"]), sync_dist=True)
        self._val_records.append(self.estimator.validation_records(outputs, batch))

    def on_validation_epoch_end(self) -> None:
        if not self._val_records:
            return
        local = torch.from_numpy(np.concatenate(self._val_records)).to(self.device)
        self._val_records.clear()
        # Every process holds as many items (the distributed sampler pads), so gathering is
        # well defined and each process computes the same figures over the whole split.
        records = self.all_gather(local).reshape(-1, *local.shape[1:]).cpu().numpy()
        metrics = self.estimator.validation_metrics(records, tuple(self.config.validation.auc_range_px))
        for name, value in metrics.items():
            # Identical on every process; sync_dist only spares the multi-process warning.
            self.log(f"val_{name}", value, prog_bar=name == "epe_px", sync_dist=True)

    def configure_optimizers(self) -> dict:
        optimizer = build_optimizer(self.estimator.parameters(), self.config.optimizer)
        total_steps = self.trainer.estimated_stepping_batches  # also sets num_training_batches
        scheduler = build_lr_scheduler(
            optimizer, self.config.schedule, total_steps, int(self.trainer.num_training_batches)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
