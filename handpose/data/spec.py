"""Data specs: one string that names a dataset on the command line, ``FMT:PATH[?key=value&...]``.

``FMT`` is a reader format (:data:`handpose.data.readers.FORMATS`), ``PATH`` the file or folder
that reader takes. Options after ``?`` are ``split`` and ``policy`` (of
:func:`~handpose.data.readers.read_dataset`) and the format's own reader options, as strings::

    coco:data/real/uci_hand/annotations.json
    coco:data/rhd/test.json?joint_order=rhd_hand
    freihand:/datasets/FreiHAND?split=evaluation&policy=skip

The format must be known and the path must exist when the spec is parsed, so that a typo fails
at once with the spec in the message rather than deep inside a reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

from handpose.data.readers import FORMATS, ReadResult, read_dataset
from handpose.data.readers.common import POLICIES, Policy


class DataSpecError(ValueError):
    """A data spec that cannot name a readable dataset; the message quotes the spec."""


@dataclass(frozen=True)
class DataSpec:
    """A parsed ``FMT:PATH?options`` spec; :meth:`read` reads the dataset it names."""

    fmt: str
    path: Path
    split: str | None = None
    policy: Policy = "error"
    options: dict[str, str] = field(default_factory=dict)  # the reader's own options

    def read(self) -> ReadResult:
        return read_dataset(self.fmt, self.path, split=self.split, policy=self.policy, **self.options)

    def __str__(self) -> str:
        options = {"split": self.split, "policy": None if self.policy == "error" else self.policy, **self.options}
        query = "&".join(f"{key}={value}" for key, value in options.items() if value is not None)
        return f"{self.fmt}:{self.path}" + (f"?{query}" if query else "")


def parse_data_spec(text: str) -> DataSpec:
    """Parse ``FMT:PATH[?key=value&...]``; raise :class:`DataSpecError` saying what is wrong."""
    fmt, sep, rest = text.partition(":")
    if not sep or not fmt or not rest:
        raise DataSpecError(f"data spec {text!r} is not FMT:PATH (e.g. coco:annotations.json); formats: {_known()}")
    if fmt not in FORMATS:
        raise DataSpecError(f"data spec {text!r}: unknown format {fmt!r}; formats: {_known()}")
    path_text, _, query = rest.partition("?")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise DataSpecError(f"data spec {text!r}: options {query!r} are not key=value pairs joined by '&'") from None
    options = dict(pairs)
    if len(options) != len(pairs):
        raise DataSpecError(f"data spec {text!r}: an option is given twice")
    path = Path(path_text).expanduser()
    if not path.exists():
        raise DataSpecError(f"data spec {text!r}: {path} does not exist")
    split = options.pop("split", None) or None
    policy = options.pop("policy", "error")
    if policy not in POLICIES:
        raise DataSpecError(f"data spec {text!r}: policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    return DataSpec(fmt=fmt, path=path, split=split, policy=policy, options=options)  # type: ignore[arg-type]


def _known() -> str:
    return ", ".join(FORMATS)
