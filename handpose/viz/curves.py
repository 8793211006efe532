"""PCK-curve and loss-curve PNGs, for comparing models and for watching a training run.

Figures are drawn on matplotlib's Agg canvas directly, without pyplot, so plotting changes no
global backend and works on machines without a display. Files are written atomically: a reader
(a report page, a file watcher) never sees half a PNG.
"""

from __future__ import annotations

import csv
import io
import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from handpose.image_io import write_bytes_atomic
from handpose.metrics.pck import area_under_curve

#: Loss columns spanning more than this ratio are drawn on a log scale.
_LOG_SCALE_RATIO = 100.0


def plot_pck_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | Path,
    unit: str = "px",
    title: str = "PCK",
) -> Path:
    """One PNG of :func:`pck_figure`. Returns the path written."""
    return _write_png(pck_figure(curves, unit, title), path)


def pck_figure(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], unit: str = "px", title: str = "PCK"
) -> Figure:
    """A PCK curve per model, ``{name: (thresholds, values)}``; the legend gives each curve's AUC
    and the threshold range it was taken over. Laid out, the title wrapped to fit."""
    if not curves:
        raise ValueError("no PCK curves to plot")
    figure = Figure(figsize=(6.4, 4.8), dpi=100)
    axes = figure.add_subplot()
    for name, (thresholds, values) in curves.items():
        thresholds = np.asarray(thresholds, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
        if thresholds.ndim != 1 or thresholds.shape != values.shape or thresholds.size < 2:
            raise ValueError(
                f"PCK curve {name!r}: thresholds and values must be 1-D of the same length >= 2, "
                f"got {thresholds.shape} and {values.shape}"
            )
        area = area_under_curve(thresholds, values)
        label = f"{name} (AUC {area:.3f} over {thresholds[0]:g}-{thresholds[-1]:g} {unit}, {thresholds.size} steps)"
        axes.plot(thresholds, values, marker=".", label=label)
    axes.set(xlabel=f"error threshold ({unit})", ylabel="fraction of keypoints within threshold", title=title)
    axes.set_ylim(0.0, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize="small")
    return _laid_out(figure)


def plot_loss_curves(
    csv_path_or_records: str | Path | Iterable[Mapping[str, object]],
    path: str | Path,
    title: str = "Loss",
) -> Path:
    """A PNG of every loss column (train_loss, val_loss, ...) against the step, from Lightning
    CSVLogger's metrics.csv or from its rows as dicts. Returns the path written.

    Lightning writes training and validation metrics on separate rows and leaves the other columns
    empty, so each column is drawn from the rows where it has a finite value. The x axis is the
    step where rows have one, else the epoch.
    """
    source = str(csv_path_or_records) if isinstance(csv_path_or_records, (str, Path)) else "records"
    records = _read_records(csv_path_or_records)
    if not records:
        raise ValueError(f"{source}: no rows to plot")
    columns = sorted({key for record in records for key in record if "loss" in key})
    x_key = next((key for key in ("step", "epoch") if any(_number(r.get(key)) is not None for r in records)), None)
    if x_key is None:
        raise ValueError(f"{source}: no 'step' or 'epoch' column to plot losses against")
    series = {}
    for column in columns:
        points = [(_number(r.get(x_key)), _number(r.get(column))) for r in records]
        points = [(x, y) for x, y in points if x is not None and y is not None]
        if points:
            series[column] = np.array(points)
    if not series:
        raise ValueError(f"{source}: no loss values to plot (columns with 'loss' in their name: {columns or 'none'})")
    figure = Figure(figsize=(6.4, 4.8), dpi=100)
    axes = figure.add_subplot()
    for column, points in series.items():
        axes.plot(points[:, 0], points[:, 1], marker="." if len(points) < 50 else None, label=column)
    values = np.concatenate([points[:, 1] for points in series.values()])
    if values.min() > 0 and values.max() / values.min() > _LOG_SCALE_RATIO:
        axes.set_yscale("log")
    axes.set(xlabel=x_key, ylabel="loss", title=title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return _write_png(_laid_out(figure), path)


def _read_records(csv_path_or_records: str | Path | Iterable[Mapping[str, object]]) -> list[Mapping[str, object]]:
    if isinstance(csv_path_or_records, (str, Path)):
        with open(csv_path_or_records, newline="") as f:
            return list(csv.DictReader(f))
    return list(csv_path_or_records)


def _number(value: object) -> float | None:
    """A finite float from a CSV cell or a record's value; None for empty, NaN or non-numbers."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _laid_out(figure: Figure) -> Figure:
    """``figure`` tight-laid-out with each title wrapped to its axes' width: evaluation titles name
    dataset paths of any length, the canvas cuts off what lies outside it, and a title centred
    over its axes and no wider stays inside. A first wrap to the figure's width lets tight_layout
    place the axes before their width is known."""
    renderer = FigureCanvasAgg(figure).get_renderer()
    titles = {axes: axes.get_title() for axes in figure.axes}
    for axes, title in titles.items():
        _wrap_to_width(axes.title, title, figure.bbox.width, renderer)
    figure.tight_layout()
    for axes, title in titles.items():
        _wrap_to_width(axes.title, title, axes.bbox.width, renderer)
    figure.tight_layout()
    return figure


def _wrap_to_width(text: Text, content: str, width: float, renderer: RendererBase) -> None:
    """Set ``content`` on ``text``, broken into lines (inside long words such as paths too) until
    none is wider than ``width`` pixels."""
    text.set_text(content)
    lines = content.splitlines()
    chars = max((len(line) for line in lines), default=0)
    while chars > 1 and (drawn := text.get_window_extent(renderer).width) > width:
        chars = max(1, min(chars - 1, int(chars * width / drawn)))
        text.set_text("\n".join(textwrap.fill(line, chars) for line in lines))


def _write_png(figure: Figure, path: str | Path) -> Path:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    write_bytes_atomic(path, buffer.getvalue())
    return Path(path)
