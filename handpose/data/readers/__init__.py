"""Readers for the public hand datasets in their native layouts.

``read_dataset(fmt, path, split=None, policy="error", **options)`` reads one dataset into
:class:`~handpose.structures.HandSample` objects in the canonical joint order. ``policy="error"``
raises a :class:`~handpose.structures.SampleError` (naming the file, the sample and the problem)
at the first unusable sample; ``policy="skip"`` leaves such samples out and lists each with its
reason in ``ReadResult.skipped``. Hands that a format marks as absent are counted by reason in
``ReadResult.excluded``. A missing or unparsable annotation file always raises.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable

from handpose.data.readers import coco, coco_wholebody, freihand, interhand, onehand10k, panoptic, rhd, stb
from handpose.data.readers.common import Policy, ReadResult, SampleCollector

__all__ = ["FORMATS", "ReadResult", "read_dataset", "format_summary", "reader_options"]

#: Reader of each format: ``read(path, split, collector, **options)`` adding samples to the collector.
FORMATS: dict[str, Callable[..., None]] = {
    "coco": coco.read,
    "rhd": rhd.read,
    "freihand": freihand.read,
    "panoptic": panoptic.read,
    "onehand10k": onehand10k.read,
    "stb": stb.read,
    "interhand": interhand.read,
    "coco_wholebody": coco_wholebody.read,
}


def read_dataset(fmt: str, path: str | Path, split: str | None = None, policy: Policy = "error", **options: Any) -> ReadResult:
    """Read a dataset of format ``fmt`` at ``path``; see the module docstring for the policy."""
    accepted = reader_options(fmt)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"format {fmt!r} has no option(s) {', '.join(unknown)}; its options: {', '.join(accepted) or 'none'}")
    collector = SampleCollector(fmt, policy)
    _reader(fmt)(Path(path), split, collector, **options)
    return collector.result()


def format_summary(fmt: str) -> str:
    """First line of a format's reader docstring, for help texts."""
    return (_reader(fmt).__doc__ or "").strip().splitlines()[0]


def reader_options(fmt: str) -> dict[str, Any]:
    """The options a format's reader takes, with their defaults."""
    parameters = inspect.signature(_reader(fmt)).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY}


def _reader(fmt: str) -> Callable[..., None]:
    try:
        return FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown dataset format {fmt!r}; known: {', '.join(FORMATS)}") from None
