"""Training callbacks of handpose's own; Lightning's cover checkpoints, early stopping and logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from handpose.viz.curves import plot_loss_curves


class LossCurves(pl.Callback):
    """Keeps one record of epoch-level metrics per epoch and redraws a loss-curve PNG from them.

    The records live in the checkpoints (callback state), so a resumed run continues its curve
    from the first epoch, whereas Lightning's CSV logger starts a new file on every launch.
    """

    def __init__(self, path: str | Path, title: str = "Loss") -> None:
        self.path = Path(path)
        self.title = title
        self.records: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Runs before ModelCheckpoint saves this epoch (Lightning calls monitoring callbacks last).
        record = {"epoch": float(trainer.current_epoch), "step": float(trainer.global_step)}
        for name, value in trainer.callback_metrics.items():
            if not name.endswith("_step"):
                record[name.removesuffix("_epoch")] = float(value)
        self.records.append(record)
        if trainer.is_global_zero:
            plot_loss_curves(self.records, self.path, title=self.title)

    def state_dict(self) -> dict[str, Any]:
        return {"records": self.records}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.records = list(state_dict["records"])
