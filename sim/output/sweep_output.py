"""Tables, files and plots of ``orchsim sweep``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from rich.table import Table

from sim.analysis.stats import mean_ci
from sim.experiments.sweep import Grid, SweepRecord
from sim.output.outputs import atomic_path, write_csv
from sim.output.plots import save_figure, try_plots

__all__ = ["aggregate", "sweep_table", "write_sweep"]

SHOWN = ["availability", "latency_s.p99", "goodput_rps", "wait_s.p99"]


def _value(record: SweepRecord, metric: str) -> float:
    value = record.summary.figure(metric)
    return math.nan if value is None else value


def _metrics(records: list[SweepRecord]) -> list[str]:
    return sorted({m for r in records for m in r.summary.figures})


def aggregate(grid: Grid, records: list[SweepRecord]) -> list[dict[str, Any]]:
    """Per point: its parameters, the seeds done, and mean/CI of every figure."""
    metrics = _metrics(records)
    out = []
    for point in grid.points():
        mine = [r for r in records if r.point == point]
        stats = {m: mean_ci([v for v in (_value(r, m) for r in mine) if not math.isnan(v)]) for m in metrics}
        out.append({"point": point, "seeds": len(mine), "figures": stats})
    return out


def write_sweep(folder: Path, grid: Grid, records: list[SweepRecord], plots: bool) -> list[str]:
    """sweep.csv (point x seed), sweep_aggregate.csv, sweep.parquet if pyarrow is there, plots."""
    metrics = _metrics(records)
    rows: dict[str, list[Any]] = {p: [r.point[p] for r in records] for p in grid.params}
    rows["seed"] = [r.seed for r in records]
    for m in metrics:
        rows[m] = [_value(r, m) for r in records]
    write_csv(folder / "sweep.csv", rows)
    written = ["sweep.csv", "sweep_aggregate.csv"]
    if _write_parquet(folder / "sweep.parquet", rows):
        written.append("sweep.parquet")
    summary = aggregate(grid, records)
    write_csv(folder / "sweep_aggregate.csv", _aggregate_columns(grid, summary, metrics))
    if plots and records:  # last: a plot that fails costs no data
        drawn: list[str] = []
        if try_plots("sweep", lambda: drawn.extend(_plots(folder, grid, summary))):
            written += drawn
    return written


def _aggregate_columns(grid: Grid, summary: list[dict[str, Any]], metrics: list[str]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {p: [s["point"][p] for s in summary] for p in grid.params}
    columns["seeds"] = [s["seeds"] for s in summary]
    for m in metrics:
        for stat, suffix in (("mean", ""), ("ci_low", ".ci_low"), ("ci_high", ".ci_high")):
            columns[m + suffix] = [_nan(s["figures"].get(m, {}).get(stat)) for s in summary]
    return columns


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def _write_parquet(path: Path, rows: dict[str, list[Any]]) -> bool:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return False
    table = pa.table({k: _cells(vs) for k, vs in rows.items()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return True


def _cells(values: list[Any]) -> list[Any]:
    """A parquet column: lists and mappings as text, and every value as text when text and numbers mix
    (a grid of ``window=10,1ms``)."""
    cells = [str(v) if isinstance(v, (list, dict)) else v for v in values]
    if any(isinstance(v, str) for v in cells) and not all(v is None or isinstance(v, str) for v in cells):
        return [None if v is None else str(v) for v in cells]
    return cells


def _plots(folder: Path, grid: Grid, summary: list[dict[str, Any]]) -> list[str]:
    if len(grid.params) == 1:
        _lines(folder / "sweep.png", grid, summary)
        return ["sweep.png"]
    if len(grid.params) == 2:
        _heatmaps(folder / "sweep_heatmap.png", grid, summary)
        return ["sweep_heatmap.png"]
    return []


def _lines(path: Path, grid: Grid, summary: list[dict[str, Any]]) -> None:
    param = grid.params[0]
    labels = [str(s["point"][param]) for s in summary]
    numeric = all(isinstance(s["point"][param], (int, float)) for s in summary)
    x = np.array([s["point"][param] for s in summary], dtype=float) if numeric else np.arange(len(summary))
    fig, axes = plt.subplots(1, len(SHOWN), figsize=(4.5 * len(SHOWN), 4), layout="constrained")
    for ax, metric in zip(axes, SHOWN, strict=True):
        mean = np.array([_nan(s["figures"].get(metric, {}).get("mean")) for s in summary])
        low = np.array([_nan(s["figures"].get(metric, {}).get("ci_low")) for s in summary])
        high = np.array([_nan(s["figures"].get(metric, {}).get("ci_high")) for s in summary])
        ax.plot(x, mean, marker="o")
        ax.fill_between(x, low, high, alpha=0.25, label="95% CI")
        ax.set_title(metric)
        ax.set_xlabel(param)
        if not numeric:
            ax.set_xticks(x, labels, rotation=30, ha="right")
    save_figure(fig, path)


def _heatmaps(path: Path, grid: Grid, summary: list[dict[str, Any]]) -> None:
    (p0, v0), (p1, v1) = zip(grid.params, grid.values, strict=True)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
    for ax, metric in zip(axes, ("availability", "latency_s.p99"), strict=True):
        cells = np.full((len(v0), len(v1)), np.nan)
        for s in summary:
            i, j = v0.index(s["point"][p0]), v1.index(s["point"][p1])
            cells[i, j] = _nan(s["figures"].get(metric, {}).get("mean"))
        image = ax.imshow(cells, origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(v1)), [str(v) for v in v1], rotation=30, ha="right")
        ax.set_yticks(range(len(v0)), [str(v) for v in v0])
        ax.set_xlabel(p1)
        ax.set_ylabel(p0)
        ax.set_title(f"{metric} (mean over seeds)")
        fig.colorbar(image, ax=ax)
    save_figure(fig, path)


def sweep_table(grid: Grid, summary: list[dict[str, Any]]) -> Table:
    """Per point: the parameters and mean ± half-width of the main figures."""
    table = Table(title="sweep: mean ± 95% CI half-width over seeds")
    for p in grid.params:
        table.add_column(p)
    table.add_column("seeds", justify="right")
    for metric in SHOWN:
        table.add_column(metric, justify="right")
    for s in summary:
        cells = [_cell(s["figures"].get(m)) for m in SHOWN]
        table.add_row(*(str(s["point"][p]) for p in grid.params), str(s["seeds"]), *cells)
    return table


def _cell(interval: dict[str, float | None] | None) -> str:
    if not interval or interval["mean"] is None:
        return "-"
    text = f"{interval['mean']:.4g}"
    if interval["ci_low"] is not None and interval["ci_high"] is not None:
        text += f" ±{(interval['ci_high'] - interval['ci_low']) / 2:.2g}"
    return text
