"""Training checkpoints: written atomically, and the weights of one run as the start of another.

Reading a checkpoint back as a ready-to-run estimator is inference's job
(:func:`handpose.inference.weights.load_estimator`): the module stores the estimator's spec in
every checkpoint, so neither Lightning nor the experiment config is needed for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import TorchCheckpointIO

from handpose.estimators import Estimator
from handpose.image_io import open_atomic
from handpose.inference.weights import load_estimator


class AtomicCheckpointIO(TorchCheckpointIO):
    """Save to a temporary file in the target folder, then rename it over the target.

    A run killed mid-save (a pre-empted node, Ctrl-C) leaves the previous ``last.ckpt`` intact
    rather than a truncated file that would make the next run fail to resume.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        if not isinstance(get_filesystem(path), LocalFileSystem):
            return super().save_checkpoint(checkpoint, path, storage_options)  # remote stores write whole objects
        with open_atomic(path, durable=True) as f:
            torch.save(checkpoint, f)


def load_network_weights(estimator: Estimator, path: str | Path) -> tuple[list[str], list[str]]:
    """Start ``estimator`` from the weights of a training checkpoint or weights file
    (fine-tuning, as ``init_from`` asks); its optimiser, schedule and epoch are left behind.

    Every weight of the source's network must fit one of ``estimator``'s. Returns the names of
    the estimator's weights the source lacks (a new head on a trained network, a 3D head on a 2D
    model, say, which starts from its initialisation) and of the source's weights outside its
    network that the estimator lacks (the 3D head of a 3D model whose network a 2D model
    fine-tunes, left behind), so the run can say both.
    """
    source = load_estimator(path)  # a missing or unreadable file raises WeightsError naming it
    try:
        result = estimator.load_state_dict(source.state_dict(), strict=False)
    except RuntimeError as error:  # differently shaped weights
        raise ValueError(f"{path}: its network does not fit this config's model ({str(error).splitlines()[0]} ...)") from None
    unfitting = [name for name in result.unexpected_keys if name.startswith("network.")]
    if unfitting:
        raise ValueError(
            f"{path}: its network does not fit this config's model (weights the model lacks: "
            f"{', '.join(unfitting[:3])} ...)"
        )
    return list(result.missing_keys), list(result.unexpected_keys)
