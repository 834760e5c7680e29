"""The scenario's reported figures beside the simulated ones: the incident day and its baseline, over seeds.

Reads typed summaries only (``Summary``) and gives the typed ``reference`` key of ``summary.json``
(``ReferenceComparison``). Each simulated figure is given per seed, with its mean and range; the
reported figures are text as the scenario's ``reference:`` quotes them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from sim.analysis.summary import (
    NarrativeLine,
    Observer,
    OutageReports,
    ReferenceComparison,
    ReferenceRow,
    ReportedDays,
    SeedCodes,
    SeedValues,
    SimulatedDays,
    Summary,
)
from sim.clock import Clock
from sim.scenario import Scenario
from sim.scenario.reference import Reference

__all__ = ["LABELS", "compare_to_reference", "figure", "impact_s", "narrative"]

LABELS = {
    "uptime": "uptime (1-minute windows at the SLO)",
    "outage_reports": "user outage reports (day)",
    "error_codes": "primary error codes",
    "report_spike": "report spike (busiest minute)",
    "time_to_resolve": "time to resolve (monitor detects -> page resolved)",
    "status_page_lag": "status page 'Operational' after users fail",
}


def impact_s(summary: Summary) -> float | None:
    """User impact: from the independent monitor's detection to the official page's 'resolved' (s)."""
    pages = _pages(summary)
    detected, resolved = pages["monitor"].detected_s, pages["official"].resolved_s
    return None if detected is None or resolved is None else float(resolved - detected)


def _pages(summary: Summary) -> dict[str, Observer]:
    if summary.status_page is None:
        raise ValueError(f"{summary.scenario} seed {summary.seed}: no status_page figures to compare with")
    return summary.status_page


def _reports(summary: Summary) -> OutageReports:
    if summary.outage_reports is None:
        raise ValueError(f"{summary.scenario} seed {summary.seed}: no outage_reports figures to compare with")
    return summary.outage_reports


def _top_codes(summary: Summary) -> str | None:
    codes = sorted(summary.errors_by_code.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(code for code, _ in codes[:2]) or None


def _report_spike(summary: Summary) -> float | None:
    reports = _reports(summary)
    return reports.peak_at_s if reports.total else None


_FIGURES: dict[str, Callable[[Summary], Any]] = {
    "uptime": lambda s: s.uptime,
    "outage_reports": lambda s: _reports(s).total,
    "error_codes": _top_codes,
    "report_spike": _report_spike,
    "time_to_resolve": impact_s,
    "status_page_lag": lambda s: _pages(s)["official"].time_to_acknowledge_s,
}


def figure(metric: str, summary: Summary) -> Any:
    """The simulated figure compared with the reported ``metric``, from one run's summary."""
    return _FIGURES[metric](summary)


def compare_to_reference(
    scenario: Scenario, incident: Sequence[Summary], baseline: Sequence[Summary], tz: str | None = None
) -> ReferenceComparison:
    """The ``reference`` key of ``summary.json``: each reported figure beside the simulated ones.

    Clock times are shown in ``tz``, else the scenario's ``timezone``.
    """
    ref = scenario.reference
    if ref is None:
        raise ValueError(f"{scenario.name}: no reference: section to compare with")
    clock = scenario.clock(tz)
    rows = tuple(
        ReferenceRow(
            metric=item.metric,
            label=LABELS[item.metric],
            source=item.source,
            reported=ReportedDays(incident=item.incident, baseline=item.baseline),
            simulated=SimulatedDays(
                incident=_aggregate(item.metric, [figure(item.metric, s) for s in incident], clock),
                baseline=_aggregate(item.metric, [figure(item.metric, s) for s in baseline], clock),
            ),
        )
        for item in ref.figures
    )
    return ReferenceComparison(
        source=ref.source,
        columns=tuple(_columns(ref, len(incident))),
        seeds=tuple(s.seed for s in incident),
        rows=rows,
        narrative=narrative(ref, incident[0], clock) if incident else (),
    )


def narrative(ref: Reference, summary: Summary, clock: Clock) -> tuple[NarrativeLine, ...]:
    """The account's timeline line by line, each beside the simulated event that answers it (one seed)."""
    events = _events(summary)
    lines = []
    for item in ref.narrative:
        at_s, text = events.get(item.event, (None, "did not happen in this run"))
        clock_label = None if at_s is None else clock.label(at_s)
        lines.append(NarrativeLine(item.reported, item.event, at_s, clock_label, text))
    return tuple(lines)


def _events(summary: Summary) -> dict[str, tuple[float, str]]:
    """Simulated moments of one run: trigger, report spike, users failing, page posts."""
    incident, official, reports = summary.incident, _pages(summary)["official"], _reports(summary)
    if incident is None:
        raise ValueError(f"{summary.scenario} seed {summary.seed}: no incident figures to compare with")
    events: dict[str, tuple[float, str]] = {}
    triggers = [e for e in incident.timeline if e.source == "trigger"]
    if triggers:
        events["trigger"] = (triggers[0].at_s, triggers[0].label)
    if reports.total and reports.peak_at_s is not None:
        peak = f"outage reports peak: {reports.peak_per_window} in a minute"
        events["report_spike"] = (reports.peak_at_s, peak)
    onset, ack, resolved = incident.onset_s, official.acknowledged_s, official.resolved_s
    if onset is not None:
        events["users_failing"] = (onset, "availability falls below the SLO: users get 503 and 500")
        if ack is not None:
            lag = f"{(ack - onset) / 60:.0f} min" if ack > onset else "no time"
            events["page_operational"] = (onset, f"status page still shows 'Operational' for {lag}")
    if ack is not None:
        events["page_investigating"] = (ack, f"status page: 'investigating' ({official.worst_state})")
    if resolved is not None:
        impact = impact_s(summary)
        after = "" if impact is None else f", {impact / 60:.0f} min after the monitor detected it"
        events["resolved"] = (resolved, f"status page: 'resolved'{after}")
    return events


def _columns(ref: Reference, seeds: int) -> list[str]:
    per = "" if seeds == 1 else f", mean (range) of {seeds} seeds"
    incident, ordinary = f"simulated incident day{per}", f"simulated ordinary day{per}"
    return ["metric", ref.incident_label, incident, ref.baseline_label, ordinary]


def _aggregate(metric: str, values: list[Any], clock: Clock) -> SeedValues | SeedCodes:
    """Per-seed values, mean, min, max, and the text shown in the table."""
    known = [v for v in values if v is not None]
    if metric == "error_codes":
        counts = Counter(known)
        common, times = counts.most_common(1)[0] if counts else (None, 0)
        shown = "-" if common is None else common + ("" if len(values) == 1 else f" ({times} of {len(values)} seeds)")
        return SeedCodes(per_seed=tuple(values), most_common=common, seeds_with_it=times, shown=shown)
    mean, low, high = (sum(known) / len(known), min(known), max(known)) if known else (None, None, None)
    shown = _shown(metric, mean, low, high, len(values), len(known), clock)
    return SeedValues(per_seed=tuple(values), mean=mean, min=low, max=high, shown=shown)


def _shown(
    metric: str, mean: float | None, low: float | None, high: float | None, seeds: int, known: int, clock: Clock
) -> str:
    if mean is None or low is None or high is None:
        return "-" if metric != "time_to_resolve" else "no incident"
    text = _FORMATS[metric]
    shown = text(mean, clock)
    if seeds > 1:
        shown += f" ({text(low, clock)} - {text(high, clock)})"
    if known < seeds:
        shown += f", {seeds - known} of {seeds} seeds: none"
    return shown


def _minutes(value_s: float, _: Clock) -> str:
    return f"{value_s / 60:.0f} min"


_FORMATS: dict[str, Callable[[float, Clock], str]] = {
    "uptime": lambda v, _: f"{100 * v:.2f}%",
    "outage_reports": lambda v, _: f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}",
    "report_spike": lambda v, clock: clock.hm(v),
    "time_to_resolve": _minutes,
    "status_page_lag": _minutes,
}
