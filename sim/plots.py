"""PNG plots of one run's time series; fault windows shaded. Reads results only."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.outputs import atomic_path
from sim.scenario import Scenario

matplotlib.rcParams["text.parse_math"] = False  # names are text: a '$' in a variant name broke mathtext

__all__ = ["PLOT_FILES", "plot_run", "save_figure", "try_plots"]

PLOT_FILES = ("load.png", "errors.png", "latency.png", "queue.png")


def plot_run(out_dir: Path, scenario: Scenario, series: dict[str, np.ndarray]) -> list[Path]:
    """Write the run's four plots into ``out_dir``; return their paths."""
    minutes = series["start_s"] / 60.0
    width = np.maximum(series["end_s"] - series["start_s"], 1e-9)
    drawers: list[tuple[str, Drawer]] = list(zip(PLOT_FILES, (_load, _errors, _latency, _queue), strict=True))
    if "batch_size" in series:
        drawers.append(("llm.png", _llm))
    paths = []
    for name, draw in drawers:
        fig, ax = plt.subplots(figsize=(10, 4), layout="constrained")
        _shade(ax, scenario)
        draw(ax, minutes, width, series)
        ax.set_xlabel("simulated time (min)")
        ax.set_title(f"{scenario.name}: {ax.get_title()}")
        paths.append(save_figure(fig, out_dir / name))
    return paths


Drawer = Callable[[Axes, np.ndarray, np.ndarray, dict[str, np.ndarray]], None]


def _llm(ax: Axes, minutes: np.ndarray, width: np.ndarray, s: dict[str, np.ndarray]) -> None:
    ax.plot(minutes, s["batch_size"], label="batch size (sequences per server up)")
    ax.set_ylabel("sequences")
    ax.set_title("LLM servers: batch size, KV-cache use, TTFT p95")
    right = ax.twinx()
    right.plot(minutes, s["kv_cache_utilization"], color="tab:red", label="KV cache in use (share)")
    right.plot(minutes, s["ttft_p95_s"], color="tab:green", ls="--", label="TTFT p95 (s)")
    right.set_ylabel("share / seconds")
    lines = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    ax.legend(lines, labels, loc="upper left")


def _load(ax: Axes, minutes: np.ndarray, width: np.ndarray, s: dict[str, np.ndarray]) -> None:
    ax.plot(minutes, s["offered"] / width, label="offered (user requests/s)")
    ax.plot(minutes, s["attempts"] / width, label="attempts incl. retries/s", alpha=0.8)
    ax.plot(minutes, s["succeeded"] / width, label="succeeded/s")
    ax.set_ylabel("per second")
    ax.set_title("load and throughput")
    ax.legend(loc="upper left")


def _errors(ax: Axes, minutes: np.ndarray, width: np.ndarray, s: dict[str, np.ndarray]) -> None:
    codes = [k for k in s if k.startswith("errors_")]
    bottom = np.zeros_like(minutes)
    for key in codes:
        rate = s[key] / width
        ax.fill_between(minutes, bottom, bottom + rate, step="post", label=key.removeprefix("errors_"), alpha=0.7)
        bottom = bottom + rate
    ax.set_ylabel("failed user requests/s")
    ax.set_title("errors by code")
    if codes:
        ax.legend(loc="upper left", title="code")


def _latency(ax: Axes, minutes: np.ndarray, width: np.ndarray, s: dict[str, np.ndarray]) -> None:
    for p in (50, 95, 99):
        ax.plot(minutes, s[f"latency_p{p}_s"], label=f"p{p}")
    ax.set_ylabel("latency of successes (s)")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_title("latency percentiles")
    ax.legend(loc="upper left")


def _queue(ax: Axes, minutes: np.ndarray, width: np.ndarray, s: dict[str, np.ndarray]) -> None:
    ax.plot(minutes, s["queue_depth"], label="queued requests")
    ax.plot(minutes, s["router_in_flight"], label="router in flight", alpha=0.7)
    ax.set_ylabel("requests (time-averaged)")
    ax.set_title("queue depth, utilisation, healthy servers")
    right = ax.twinx()
    right.plot(minutes, s["utilization"], color="tab:red", label="utilisation")
    servers = max(float(s["healthy_servers"].max()), float(s["routable_servers"].max()), 1.0)
    right.plot(minutes, s["healthy_servers"] / servers, color="tab:green", label="servers up (share)", ls="--")
    right.plot(minutes, s["routable_servers"] / servers, color="tab:purple", label="servers routed to (share)", ls=":")
    right.set_ylim(0, 1.05)
    right.set_ylabel("fraction")
    lines = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    ax.legend(lines, labels, loc="upper left")


def _shade(ax: Axes, scenario: Scenario) -> None:
    for i, fault in enumerate(scenario.faults):
        ax.axvspan(fault.at / 60.0, fault.end_s / 60.0, color="grey", alpha=0.2, label="fault" if i == 0 else None)
    for i, surge in enumerate(scenario.workload.surges):
        ax.axvspan(
            surge.at / 60.0, surge.end_s / 60.0, color="tab:orange", alpha=0.12, label="surge" if i == 0 else None
        )
    if scenario.warmup > 0:
        ax.axvspan(0, scenario.warmup / 60.0, color="yellow", alpha=0.1)


def try_plots(what: str, draw: Callable[[], object]) -> bool:
    """Call ``draw`` (after the data files are written): a failure is one warning line on stderr, the
    data files stay complete, and no half-written PNG is left (``save_figure`` is atomic)."""
    try:
        draw()
    except Exception as exc:  # any plotting failure: results matter more than pictures
        plt.close("all")
        print(
            f"orchsim: warning: {what} plots not written ({type(exc).__name__}: {exc}); data files are complete",
            file=sys.stderr,
        )
        return False
    return True


def save_figure(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as PNG atomically, release it, return ``path``."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return path
