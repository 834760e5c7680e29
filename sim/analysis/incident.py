"""The incident of a run as ``summary.json`` figures: impact, observers, outage reports, cost, timeline.

The incident is the largest group of measured windows below the SLO availability (gaps shorter
than the status page's ``clear`` windows merged); its onset is the start of the first such window
and it has recovered at the end of the last one. Detection and acknowledgement times are measured
from the onset, so a monitor more sensitive than the SLO can detect "before" it (negative).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from sim.analysis.monitoring import (
    LEVELS,
    RESOLVED,
    ObserverView,
    cost_usd,
    down_windows,
    error_rate,
    incident_windows,
    measured_windows,
    observe,
    outage_reports,
)
from sim.analysis.summary import Cost, Incident, Observer, OutageReports, StatusPost, TimelineEntry
from sim.clock import Clock
from sim.scenario import Scenario

__all__ = ["Assessment", "assess"]


@dataclass(frozen=True)
class Assessment:
    """The ``incident``, ``status_page``, ``outage_reports`` and ``cost`` figures of a run."""

    incident: Incident
    status_page: dict[str, Observer]
    outage_reports: OutageReports
    cost: Cost


def assess(sc: Scenario, seed: int, series: dict[str, np.ndarray], failed: int, late: int) -> Assessment:
    """The incident as users, watchers and the budget saw it (those keys of ``summary.json``)."""
    horizon_s = float(series["end_s"][-1]) if series["end_s"].size else sc.duration
    down = down_windows(sc, series)
    groups = incident_windows(down, sc.monitoring.status_page.clear)
    main = max(groups, key=lambda g: int(down[g[0] : g[1] + 1].sum())) if groups else None
    impact = _impact(sc, series, down, groups, main)  # its timeline follows from the observers' posts
    views = {
        "monitor": observe(sc.monitoring.monitor, series, horizon_s),
        "official": observe(sc.monitoring.status_page, series, horizon_s),
    }
    reports = outage_reports(sc.monitoring.outage_reports, series, seed)
    width_s = series["end_s"] - series["start_s"]
    return Assessment(
        incident=replace(impact, timeline=_timeline(sc, impact, views)),
        status_page={name: _observer(view, impact.onset_s, sc.clock()) for name, view in views.items()},
        outage_reports=_reports(sc, series, reports, main),
        cost=cost_usd(sc, failed, late, float(width_s[down].sum() / 60.0)),
    )


def _impact(
    sc: Scenario,
    series: dict[str, np.ndarray],
    down: np.ndarray,
    groups: list[tuple[int, int]],
    main: tuple[int, int] | None,
) -> Incident:
    """Onset, recovery and peak error rate (the timeline left empty)."""
    measured = measured_windows(sc, series)
    rate = np.where(measured, np.nan_to_num(error_rate(series), nan=0.0), 0.0)
    peak = int(np.argmax(rate)) if rate.size else 0
    onset_s = end_s = time_to_recover_s = None
    if main is not None:
        first, last = main
        recovered = last + 1 < down.size
        last_end_s = float(series["end_s"][last])
        onset_s = float(series["start_s"][first])
        end_s = last_end_s if recovered else None
        time_to_recover_s = last_end_s - onset_s if recovered else None
    return Incident(
        onset_s=onset_s,
        end_s=end_s,
        time_to_recover_s=time_to_recover_s,
        incidents=len(groups),
        down_windows=int(down.sum()),
        peak_error_rate=float(rate[peak]) if rate.size else None,
        peak_error_rate_at_s=float(series["start_s"][peak]) if rate.size else None,
        timeline=(),
    )


def _observer(view: ObserverView, onset_s: float | None, clock: Clock) -> Observer:
    """The observer's first episode still open at the onset (or after it), timed from the onset."""
    chosen = [e for e in view.episodes if onset_s is not None and (e.cleared_s is None or e.cleared_s > onset_s)]
    detected_s, acknowledged_s, resolved_s = (
        (chosen[0].detected_s, chosen[0].acknowledged_s, chosen[0].resolved_s) if chosen else (None, None, None)
    )
    detect, acknowledge, resolve = (
        None if at_s is None or onset_s is None else at_s - onset_s for at_s in (detected_s, acknowledged_s, resolved_s)
    )
    shown = [LEVELS.index(s) for s in view.shown if s != RESOLVED]
    return Observer(
        detected_s=detected_s,
        acknowledged_s=acknowledged_s,
        resolved_s=resolved_s,
        time_to_detect_s=detect,
        time_to_acknowledge_s=acknowledge,
        time_to_resolve_s=resolve,
        worst_state=LEVELS[max(shown, default=0)],
        episodes=len(view.episodes),
        timeline=tuple(StatusPost(at_s, clock.iso(at_s), state, note) for at_s, state, note in view.events),
    )


def _reports(
    sc: Scenario, series: dict[str, np.ndarray], reports: np.ndarray, main: tuple[int, int] | None
) -> OutageReports:
    measured = measured_windows(sc, series)
    counted = np.where(measured, reports, 0)
    day = np.floor(series["start_s"] / 86400.0).astype(np.int64)
    per_day = np.bincount(day, weights=counted, minlength=int(day.max()) + 1 if day.size else 0)
    peak = int(np.argmax(counted)) if counted.size else 0
    return OutageReports(
        total=int(counted.sum()),
        per_day=tuple(int(n) for n in per_day),
        during_incident=int(counted[main[0] : main[1] + 1].sum()) if main else 0,
        peak_per_window=int(counted[peak]) if counted.size else 0,
        peak_at_s=float(series["start_s"][peak]) if counted.size else None,
        background_per_day=sc.monitoring.outage_reports.background_per_day,
    )


def _timeline(sc: Scenario, impact: Incident, views: dict[str, ObserverView]) -> tuple[TimelineEntry, ...]:
    """Triggers, annotations, impact, and every status post, in time order."""
    events: list[tuple[float, str, str]] = []
    for fault in sc.faults:
        events += [(fault.at, "trigger", f"{fault.kind} on {fault.target} begins")]
        events += [(fault.end_s, "trigger", f"{fault.kind} on {fault.target} ends")]
    for surge in sc.workload.surges:
        events += [(surge.at, "trigger", f"surge x{surge.factor:g} begins"), (surge.end_s, "trigger", "surge ends")]
    events += [(a.at, a.kind, a.label) for a in sc.monitoring.annotations]
    if impact.onset_s is not None:
        events.append((impact.onset_s, "impact", "availability falls below the SLO"))
    if impact.end_s is not None:
        events.append((impact.end_s, "impact", "availability back at the SLO (recovered)"))
    for name, view in views.items():
        who = "independent monitor" if name == "monitor" else "status page"
        for at_s, state, note in view.events:
            events.append((at_s, name, f"{who}: {state}" + (f" ({note})" if note else "")))
    events.sort(key=lambda e: e[0])
    clock = sc.clock()
    return tuple(TimelineEntry(float(at_s), clock.iso(at_s), source, label) for at_s, source, label in events)
