"""``incident.png``: the incident zoomed in, in clock time, with the baseline day overlaid.

Three panels sharing the clock axis: the error rate of both days against the SLO, user outage
reports per minute of both days, and what the independent monitor and the status page showed.
Reads the two run folders' ``timeseries.csv`` and the incident day's summary.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from sim.analysis.summary import Summary
from sim.output.plots import clock_axis, mark_events, save_figure
from sim.scenario import Scenario

__all__ = ["INCIDENT_FILE", "plot_incident", "read_series"]

INCIDENT_FILE = "incident.png"
_NUMERIC = ("start_s", "end_s", "succeeded", "failed", "outage_reports")
_STATES = {"operational": "#2e7d32", "degraded": "#f9a825", "partial_outage": "#ef6c00", "major_outage": "#c62828"}


def read_series(path: Path) -> dict[str, Any]:
    """The columns of a ``timeseries.csv`` the incident plot needs (numbers as arrays, states as lists)."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    series: dict[str, Any] = {k: np.array([float(r[k] or "nan") for r in rows]) for k in _NUMERIC}
    for key in ("status_monitor", "status_page"):
        series[key] = [r.get(key, "") for r in rows]
    return series


def _span_h(summary: Summary, duration_s: float) -> tuple[float, float] | None:
    incident, pages = summary.incident, summary.status_page
    if incident is None or pages is None:
        return None
    starts = [t for t in (incident.onset_s, pages["monitor"].detected_s) if t is not None]
    if not starts:
        return None
    ends = [t for t in (incident.end_s, pages["official"].resolved_s) if t is not None]
    first, last = min(starts), max(ends, default=min(starts) + 3 * 3600)
    return max(0.0, first - 3600) / 3600, min(duration_s, last + 2700) / 3600


def plot_incident(
    path: Path, scenario: Scenario, day: dict[str, Any], baseline: dict[str, Any] | None, summary: Summary
) -> Path | None:
    """Write ``incident.png`` (None, and no file, when the run had no incident)."""
    span = _span_h(summary, scenario.duration)
    if span is None:
        return None
    fig, axes = plt.subplots(3, 1, figsize=(12, 9), sharex=True, layout="constrained", height_ratios=[3, 2, 1])
    days = [("incident day", day, "tab:red")] + ([("baseline day", baseline, "tab:blue")] if baseline else [])
    for label, series, colour in days:
        hours = series["start_s"] / 3600
        answered = np.maximum(series["succeeded"] + series["failed"], 1)
        axes[0].plot(hours, 100 * series["failed"] / answered, color=colour, label=f"{label}: error rate")
        axes[1].step(hours, series["outage_reports"], where="post", color=colour, label=f"{label}: outage reports")
    axes[0].axhline(100 * (1 - scenario.slo.availability), color="k", ls="--", lw=0.8, label="SLO limit")
    axes[0].set_ylabel("failed requests (%)")
    axes[0].set_title(f"{scenario.name}: the incident, zoomed, beside the baseline day")
    axes[1].set_ylabel("reports per minute")
    for ax in axes[:2]:
        mark_events(ax, scenario, summary)
    _states(axes[2], day, span)
    for ax in axes:
        clock_axis(ax, scenario.clock(), span, label=ax is axes[-1])
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    lines = [h for h in axes[1].get_legend_handles_labels()[0] if "outage reports" in str(h.get_label())]
    axes[1].legend(handles=lines, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return save_figure(fig, path)


def _states(ax: Axes, series: dict[str, Any], span_h: tuple[float, float]) -> None:
    """One band per observer, coloured by the state it showed in each window of the span."""
    for row, key in enumerate(("status_monitor", "status_page")):
        for start, end, state in zip(series["start_s"], series["end_s"], series[key], strict=True):
            if end / 3600 < span_h[0] or start / 3600 > span_h[1]:
                continue
            colour = _STATES.get(state, "#1565c0")  # 'resolved': blue
            ax.axvspan(start / 3600, end / 3600, ymin=(1 - row) * 0.5 + 0.05, ymax=(1 - row) * 0.5 + 0.45, color=colour)
    ax.set_yticks([0.75, 0.25], ["monitor", "status page"])
    ax.set_ylim(0, 1)
    handles = [Patch(color=c, label=s) for s, c in {**_STATES, "resolved": "#1565c0"}.items()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
