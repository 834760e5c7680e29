"""Files, plots and the table of ``orchsim compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter
from rich.table import Table

from sim.analysis.metric_registry import higher_is_better, lookup, unit_of
from sim.analysis.stats import Interval
from sim.experiments.compare import CRN_NOTE, QUANTILES, Comparison
from sim.output.outputs import write_csv, write_json
from sim.output.plots import save_figure, try_plots

__all__ = ["DROP_ORDER", "TABLE_METRICS", "comparison_document", "comparison_table", "write_comparison"]

TABLE_METRICS = [
    ("availability", "availability"),
    ("latency_s.mean", "latency mean"),
    ("latency_s.p50", "p50"),
    ("latency_s.p99", "p99"),
    ("wait_s.p99", "wait p99"),
    ("throughput_rps", "throughput/s"),
    ("goodput_rps", "goodput/s"),
    ("errors_by_code.503", "503s"),
    ("errors_by_code.504", "504s"),
]
"""The comparison table's columns: a figure's dotted name and its heading (its unit from the registry)."""

DROP_ORDER = ("504s", "503s", "wait p99", "latency mean", "p50", "throughput/s", "goodput/s")
"""Columns of the comparison table left out first when a terminal is too narrow for it."""


def _kind(metric: str) -> str:
    """How a column shows its figure, by the registry's unit: shares as percentages, seconds to 3 places."""
    return {"share": "pct", "s": "s"}.get(unit_of(metric) or "", "")


def _show(interval: Interval, kind: str) -> str:
    mean, low, high = interval["mean"], interval["ci_low"], interval["ci_high"]
    if mean is None:
        return "-"
    scale, unit = (100.0, "%") if kind == "pct" else (1.0, "")
    text = f"{mean * scale:,.3f}{unit}" if kind else f"{mean:,.1f}"
    if low is not None and high is not None:
        half = (high - low) / 2 * scale
        text += f" ±{half:,.3f}" if kind else f" ±{half:,.1f}"
    return text


def _absent(metric: str) -> Interval:
    """A column no run had: 0 when its absence counts 0 (an error code that never occurred), else undefined."""
    metric_entry = lookup(metric)
    zero = metric_entry is not None and metric_entry.absent_is_zero
    return {"mean": 0.0 if zero else None, "ci_low": None, "ci_high": None}


def comparison_table(comparison: Comparison, scenario_name: str) -> Table:
    """Mean ± 95% half-width per strategy, ranked, with the paired difference to the best."""
    aggregate = comparison.aggregate()
    rank_by = comparison.rank_by
    direction = "higher" if higher_is_better(rank_by) else "lower"
    table = Table(
        title=f"{scenario_name}: {len(comparison.seeds)} seeds, ranked by {rank_by} ({direction} is better)",
        caption="mean ± 95% CI half-width (Student t over seeds)",
    )
    table.add_column("#")
    table.add_column("strategy", no_wrap=True)
    for _, title in TABLE_METRICS:
        table.add_column(title, justify="right")
    table.add_column(f"vs best ({rank_by})", justify="right")
    ranking = comparison.ranking()
    for row in ranking:
        label = row["strategy"]
        cells = [_show(aggregate[label].get(m, _absent(m)), _kind(m)) for m, _ in TABLE_METRICS]
        shared = sum(r["rank"] == row["rank"] for r in ranking) > 1
        table.add_row(f"{row['rank']}=" if shared else str(row["rank"]), label, *cells, _verdict(row, shared))
    return table


def _verdict(row: dict[str, Any], shared: bool) -> str:
    if row["rank"] == 1:
        return "best (tie)" if shared else "best"
    if shared:
        return "tie"
    diff = row["difference_to_best"]
    if diff["ci_low"] is None:
        return f"{diff['mean']:+.4g} (one seed)"
    interval = f"{diff['mean']:+.4g} [{diff['ci_low']:+.4g}, {diff['ci_high']:+.4g}]"
    return interval + (" worse" if row["distinguishable"] else " n.s.")


def comparison_document(comparison: Comparison, scenario_name: str) -> dict[str, Any]:
    """What comparison.json holds."""
    aggregate = comparison.aggregate()
    return {
        "scenario": scenario_name,
        "seeds": comparison.seeds,
        "rank_by": comparison.rank_by,
        "higher_is_better": higher_is_better(comparison.rank_by),
        "common_random_numbers": CRN_NOTE,
        "strategies": aggregate,
        "ranking": comparison.ranking(),
        "runs": [{"strategy": r.strategy, "seed": r.seed, "summary": r.summary.to_dict()} for r in comparison.runs],
    }


def write_comparison(folder: Path, comparison: Comparison, scenario_name: str, plots: bool) -> dict[str, Any]:
    """comparison.csv, comparison.json, then the plots; returns comparison.json's document."""
    document = comparison_document(comparison, scenario_name)
    aggregate = document["strategies"]
    write_csv(folder / "comparison.csv", _csv_columns(comparison, aggregate))
    write_json(folder / "comparison.json", document)
    if plots:  # last: a plot that fails costs no data
        try_plots("compare", lambda: _plots(folder, comparison, aggregate))
    return document


def _plots(folder: Path, comparison: Comparison, aggregate: dict[str, dict[str, Interval]]) -> None:
    _plot_bars(folder / "compare_bars.png", comparison, aggregate)
    _plot_cdf(folder / "latency_cdf.png", comparison)
    _plot_series(folder / "compare_timeseries.png", comparison)


def _csv_columns(comparison: Comparison, aggregate: dict[str, dict[str, Interval]]) -> dict[str, list[Any]]:
    metrics = comparison.metrics()
    rows: list[tuple[str, str, dict[str, Any]]] = []
    for run in comparison.runs:
        rows.append((run.strategy, str(run.seed), {m: run.summary.figure(m) for m in metrics}))
    for label in comparison.labels:
        for stat in ("mean", "ci_low", "ci_high"):
            rows.append((label, stat, {m: aggregate[label][m][stat] for m in metrics}))
    columns: dict[str, list[Any]] = {"strategy": [r[0] for r in rows], "seed": [r[1] for r in rows]}
    for m in metrics:
        columns[m] = [np.nan if r[2][m] is None else r[2][m] for r in rows]
    return columns


def _plot_bars(path: Path, comparison: Comparison, aggregate: dict[str, dict[str, Interval]]) -> None:
    """Rows ranked best first on ``rank_by``: each row's mean and CI, and its paired difference to the best."""
    ranking = comparison.ranking()
    labels = [row["strategy"] for row in ranking][::-1]  # best at the top
    metric = comparison.rank_by
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 1.2 + 0.45 * len(labels)), sharey=True, layout="constrained")
    means = np.array([aggregate[lb].get(metric, {}).get("mean") or 0.0 for lb in labels], dtype=float)
    errors = np.array([_half(aggregate[lb].get(metric)) for lb in labels], dtype=float)
    left.errorbar(means, range(len(labels)), xerr=errors, fmt="o", color="tab:blue", capsize=3)
    for y, mean in enumerate(means):
        left.annotate(f"{mean:.4g}", (mean, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    left.set_yticks(range(len(labels)), labels)
    left.set_xlabel(f"{metric}: mean and 95% CI over {len(comparison.seeds)} seeds")
    rows = {row["strategy"]: row for row in ranking}
    for y, label in enumerate(labels):
        diff = rows[label]["difference_to_best"]
        if diff["mean"] is None:
            continue
        lo, hi = diff["ci_low"], diff["ci_high"]
        span = [[diff["mean"] - lo], [hi - diff["mean"]]] if lo is not None and hi is not None else None
        colour = "tab:red" if rows[label]["distinguishable"] else "grey"
        right.errorbar(diff["mean"], y, xerr=span, fmt="o", color=colour, capsize=3)
    right.axvline(0, color="k", lw=0.8)
    right.set_xlabel(f"paired difference to the best ({ranking[0]['strategy']}), 95% CI; red: distinguishable")
    for ax in (left, right):
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"ranked by {metric} (common random numbers: every row on the same traffic)")
    save_figure(fig, path)


def _half(interval: Interval | None) -> float:
    if not interval or interval["ci_low"] is None or interval["ci_high"] is None:
        return 0.0
    return (interval["ci_high"] - interval["ci_low"]) / 2


def _plot_cdf(path: Path, comparison: Comparison) -> None:
    """Latency CDF (body) and its tail (share of requests slower than x, log scale), seconds on both."""
    fig, (body, tail) = plt.subplots(1, 2, figsize=(13, 5), layout="constrained")
    for label in comparison.labels:
        curves = [r.latency_quantiles for r in comparison.runs if r.strategy == label and r.latency_quantiles]
        if curves:
            latency = np.mean(curves, axis=0)
            body.plot(latency, 100 * QUANTILES, label=label)
            tail.plot(latency, 100 * (1 - QUANTILES), label=label)
    for ax in (body, tail):
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g} s"))
        ax.set_xlabel("latency of successful requests (log scale)")
        ax.grid(which="both", alpha=0.3)
    body.set_ylabel("requests at most this slow (%)")
    body.set_title("latency CDF (quantiles averaged over seeds)")
    tail.set_yscale("log")
    tail.set_ylim(0.5, 100)
    tail.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}%"))
    tail.set_ylabel("requests slower than this (%)")
    tail.set_title("the tail: p50 at 50%, p99 at 1%")
    handles, names = body.get_legend_handles_labels()
    if handles:
        fig.legend(handles, names, loc="outside lower center", ncols=min(len(names), 5))
    save_figure(fig, path)


def _plot_series(path: Path, comparison: Comparison) -> None:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True, layout="constrained")
    for label in comparison.labels:
        runs = [r.series for r in comparison.runs if r.strategy == label]
        minutes = np.array(runs[0]["start_s"]) / 60.0
        top.plot(minutes, np.mean([r["failed"] for r in runs], axis=0), label=label)
        bottom.plot(minutes, np.mean([r["queue_depth"] for r in runs], axis=0), label=label)
    top.set_ylabel("failed user requests per window")
    bottom.set_ylabel("queue depth (time-averaged)")
    bottom.set_xlabel("simulated time (min)")
    top.set_title("errors and queue depth per strategy (mean over seeds)")
    top.legend()
    save_figure(fig, path)
