"""PNG plots of one run's time series in clock time, with triggers and status-page posts marked.

Reads results only. The x axis is the scenario's clock (``start`` and ``timezone``); legends sit
below the axes, never over the data; files are drawn at twice the usual resolution.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

from sim.analysis.summary import Summary
from sim.clock import Clock
from sim.output.outputs import atomic_path
from sim.scenario import Scenario

matplotlib.rcParams["text.parse_math"] = False  # names are text: a '$' in a variant name broke mathtext

__all__ = ["DPI", "PLOT_FILES", "clock_axis", "legend_below", "mark_events", "plot_run", "save_figure", "try_plots"]

PLOT_FILES = ("load.png", "errors.png", "latency.png", "queue.png", "availability.png")
DPI = 200  # twice the usual 100: sharp on high-density screens and in reports
Drawer = Callable[[Axes, np.ndarray, dict[str, np.ndarray], Scenario], None]


def plot_run(
    out_dir: Path, scenario: Scenario, series: dict[str, np.ndarray], summary: Summary | None = None
) -> list[Path]:
    """Write the run's plots into ``out_dir``; return their paths."""
    hours = series["start_s"] / 3600.0
    drawers: list[tuple[str, Drawer]] = list(
        zip(PLOT_FILES, (_load, _errors, _latency, _queue, _availability), strict=True)
    )
    if "batch_size" in series:
        drawers.append(("llm.png", _llm))
    paths = []
    for name, draw in drawers:
        fig, ax = plt.subplots(figsize=(12, 4.8), layout="constrained")
        mark_events(ax, scenario, summary)
        draw(ax, hours, series, scenario)
        clock_axis(ax, scenario.clock(), (0.0, scenario.duration / 3600))
        ax.set_title(f"{scenario.name}: {ax.get_title()}")
        legend_below(ax)
        paths.append(save_figure(fig, out_dir / name))
    return paths


def clock_axis(ax: Axes, clock: Clock, span_h: tuple[float, float], label: bool = True) -> None:
    """Show hours since t = 0 over ``span_h`` as clock times (``01:00``) at round steps; name the zone."""
    ax.set_xlim(*span_h)
    width_h = span_h[1] - span_h[0]
    step_h = next((s for s in (0.25, 0.5, 1.0, 2.0, 3.0, 6.0) if width_h / s <= 13), 12.0)
    zero = clock.at(0.0)
    start_h = zero.hour + zero.minute / 60.0  # ticks on round clock times (01:00), not round offsets
    ax.xaxis.set_major_locator(MultipleLocator(step_h, offset=-start_h % step_h))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda h, _: clock.at(h * 3600.0).strftime("%H:%M")))
    if label:
        ax.set_xlabel(f"clock time, {clock.hm(0).split(' ', 1)[1]} (t = 0 at {clock.iso(0)})")
    ax.grid(alpha=0.3)


def legend_below(ax: Axes) -> None:
    """One legend for every axes of ``ax``'s figure (``ax`` and its twins), below the plot area."""
    handles: list[Any] = []
    labels: list[str] = []
    for each in ax.figure.axes:
        more = each.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    if handles:
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=min(len(labels), 4))


def mark_events(ax: Axes, scenario: Scenario, summary: Summary | None) -> None:
    """Shade faults (grey) and surges (orange); mark the status page's posts and the report spike."""
    for i, fault in enumerate(scenario.faults):
        ax.axvspan(fault.at / 3600, fault.end_s / 3600, color="grey", alpha=0.2, label="fault" if i == 0 else None)
    for i, surge in enumerate(scenario.workload.surges):
        label = "surge" if i == 0 else None
        ax.axvspan(surge.at / 3600, surge.end_s / 3600, color="tab:orange", alpha=0.15, label=label)
    if scenario.warmup > 0:
        ax.axvspan(0, scenario.warmup / 3600, color="yellow", alpha=0.1, label="warm-up")
    if summary is None or summary.status_page is None or summary.outage_reports is None:
        return
    official, reports = summary.status_page["official"], summary.outage_reports
    marks = (
        (official.acknowledged_s, "tab:red", "--", "status page: investigating"),
        (official.resolved_s, "tab:blue", "--", "status page: resolved"),
        (reports.peak_at_s if reports.total else None, "k", ":", "report spike"),
    )
    for at_s, colour, style, label in marks:
        if at_s is not None:
            ax.axvline(at_s / 3600, color=colour, ls=style, lw=1.2, label=label)


def _per_s(s: dict[str, np.ndarray]) -> np.ndarray:
    width: np.ndarray = np.maximum(s["end_s"] - s["start_s"], 1e-9)
    return width


def _load(ax: Axes, hours: np.ndarray, s: dict[str, np.ndarray], sc: Scenario) -> None:
    width = _per_s(s)
    ax.plot(hours, s["offered"] / width, label="offered (user requests/s)")
    ax.plot(hours, s["attempts"] / width, label="attempts incl. retries/s", alpha=0.8)
    ax.plot(hours, s["succeeded"] / width, label="succeeded/s")
    ax.set_ylabel("per second")
    ax.set_title("load and throughput")


def _errors(ax: Axes, hours: np.ndarray, s: dict[str, np.ndarray], sc: Scenario) -> None:
    answered = np.maximum(s["succeeded"] + s["failed"], 1)
    bottom = np.zeros_like(hours)
    for key in [k for k in s if k.startswith("errors_")]:
        share = 100.0 * s[key] / answered
        ax.fill_between(hours, bottom, bottom + share, step="post", label=f"{key.removeprefix('errors_')}", alpha=0.7)
        bottom = bottom + share
    ax.axhline(100 * (1 - sc.slo.availability), color="k", lw=0.8, ls="--", label="SLO: most errors a minute may have")
    ax.set_ylabel("failed user requests (% of answered)")
    ax.set_title("error rate by code")


def _latency(ax: Axes, hours: np.ndarray, s: dict[str, np.ndarray], sc: Scenario) -> None:
    classes = sorted({k.split("__")[1] for k in s if k.startswith("latency_p99_s__")})
    if classes:  # one colour per request class: a p99 mixing chat and reasoning requests says little
        for i, name in enumerate(classes):
            colour = f"C{i}"
            ax.plot(hours, s[f"latency_p99_s__{name}"], color=colour, label=f"{name}: latency p99")
            if f"ttft_p99_s__{name}" in s:
                ax.plot(hours, s[f"ttft_p99_s__{name}"], color=colour, ls=":", label=f"{name}: TTFT p99")
    else:
        for p in (50, 95, 99):
            ax.plot(hours, s[f"latency_p{p}_s"], label=f"p{p}")
    ax.set_ylabel("seconds (successes)")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_title("latency percentiles" + (" per request class" if classes else ""))


def _queue(ax: Axes, hours: np.ndarray, s: dict[str, np.ndarray], sc: Scenario) -> None:
    ax.plot(hours, s["queue_depth"], label="queued requests")
    ax.plot(hours, s["router_in_flight"], label="router in flight", alpha=0.7)
    ax.set_ylabel("requests (time-averaged)")
    ax.set_title("queue depth, utilisation, servers")
    right = ax.twinx()
    right.plot(hours, s["utilization"], color="tab:red", label="utilisation")
    servers = max(float(s["healthy_servers"].max()), float(s["routable_servers"].max()), 1.0)
    right.plot(hours, s["healthy_servers"] / servers, color="tab:green", label="servers up (share)", ls="--")
    right.plot(hours, s["routable_servers"] / servers, color="tab:purple", label="servers routed to (share)", ls=":")
    right.set_ylim(0, 1.05)
    right.set_ylabel("fraction")


def _availability(ax: Axes, hours: np.ndarray, s: dict[str, np.ndarray], sc: Scenario) -> None:
    """Availability per window against the SLO, and the share of the day's error budget burned."""
    ax.plot(hours, 100 * s["availability"], lw=0.9, label="availability per window")
    ax.axhline(100 * sc.slo.availability, color="k", ls="--", lw=0.8, label=f"SLO {100 * sc.slo.availability:g}%")
    ax.set_ylabel("availability (%)")
    ax.set_ylim(max(0.0, float(np.nanmin(100 * s["availability"], initial=100.0)) - 2), 100.5)
    ax.set_title("availability against the SLO, error budget burned")
    budget = (1 - sc.slo.availability) * float(s["offered"].sum())  # failures the SLO allows over the run
    burned = 100 * np.cumsum(s["failed"]) / max(budget, 1e-9)
    right = ax.twinx()
    right.plot(hours, burned, color="tab:red", label="error budget burned (% of the run's)")
    right.set_ylabel("error budget burned (%)")
    right.set_ylim(0, max(100.0, float(burned.max(initial=0.0)) * 1.05))


def _llm(ax: Axes, hours: np.ndarray, s: dict[str, np.ndarray], sc: Scenario) -> None:
    ax.plot(hours, s["batch_size"], label="batch size (sequences per server up)")
    ax.set_ylabel("sequences")
    ax.set_title("LLM servers: batch size, KV-cache use, TTFT p95")
    right = ax.twinx()
    right.plot(hours, s["kv_cache_utilization"], color="tab:red", label="KV cache in use (share)")
    right.plot(hours, s["ttft_p95_s"], color="tab:green", ls="--", label="TTFT p95 (s)")
    right.set_ylabel("share / seconds")


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
    """Write ``fig`` as PNG atomically at ``DPI``, release it, return ``path``."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI)
    plt.close(fig)
    return path
