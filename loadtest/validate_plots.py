"""Measured and simulated overlaid: throughput, errors and p95 latency over time; latency CDFs."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from loadtest.comparison import Side, Validation
from sim.output.plots import save_figure

__all__ = ["VALIDATION_PLOTS", "plot_validation"]

VALIDATION_PLOTS = ("validation_throughput.png", "validation_errors.png", "validation_p95.png", "validation_cdf.png")
STYLES = (("simulated", "tab:blue", "-"), ("measured", "tab:orange", "--"))


def plot_validation(out: Path, validation: Validation, title: str) -> list[Path]:
    """Write the four overlay plots into ``out``; return their paths."""
    sides = (validation.simulated, validation.measured)
    paths = []
    for name, draw in zip(VALIDATION_PLOTS, (_throughput, _errors, _p95, _cdf), strict=True):
        fig, ax = plt.subplots(figsize=(10, 4), layout="constrained")
        draw(ax, sides)
        ax.set_title(f"{title}: {ax.get_title()}")
        ax.legend(loc="best")
        paths.append(save_figure(fig, out / name))
    return paths


def _minutes_width(side: Side) -> tuple[np.ndarray, np.ndarray]:
    s = side.series
    return s["start_s"] / 60.0, np.maximum(s["end_s"] - s["start_s"], 1e-9)


def _throughput(ax: Axes, sides: tuple[Side, Side]) -> None:
    for side, (label, color, style) in zip(sides, STYLES, strict=True):
        minutes, width = _minutes_width(side)
        ax.plot(minutes, side.series["succeeded"] / width, color=color, ls=style, label=f"{label}: succeeded/s")
        ax.plot(minutes, side.series["attempts"] / width, color=color, ls=":", label=f"{label}: attempts/s")
    ax.set_xlabel("simulated time (min)")
    ax.set_ylabel("per simulated second")
    ax.set_title("throughput")


def _errors(ax: Axes, sides: tuple[Side, Side]) -> None:
    for side, (label, color, style) in zip(sides, STYLES, strict=True):
        minutes, width = _minutes_width(side)
        ax.plot(minutes, side.series["failed"] / width, color=color, ls=style, label=f"{label}: failed/s")
    ax.set_xlabel("simulated time (min)")
    ax.set_ylabel("failed user requests per s")
    ax.set_title("errors")


def _p95(ax: Axes, sides: tuple[Side, Side]) -> None:
    for side, (label, color, style) in zip(sides, STYLES, strict=True):
        minutes, _ = _minutes_width(side)
        ax.plot(minutes, side.series["latency_p95_s"], color=color, ls=style, label=f"{label}: p95")
    ax.set_xlabel("simulated time (min)")
    ax.set_ylabel("latency of successes (s)")
    ax.set_title("p95 latency")


def _cdf(ax: Axes, sides: tuple[Side, Side]) -> None:
    for side, (label, color, style) in zip(sides, STYLES, strict=True):
        result = side.result
        sc = result.scenario
        inside = (result.arrival_s >= sc.warmup) & (result.arrival_s < sc.duration) & (result.req_code == 200)
        latency = np.sort((result.req_end_s - result.arrival_s)[inside])
        if latency.size:
            ax.plot(latency, np.arange(1, latency.size + 1) / latency.size, color=color, ls=style, label=label)
    ax.set_xlabel("latency of successes (simulated s)")
    ax.set_ylabel("fraction of requests")
    ax.set_title("latency CDF")
