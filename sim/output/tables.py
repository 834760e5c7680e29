"""Human-readable tables of results (rich), for the CLI."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from rich.table import Table

from sim.analysis.summary import Cost, Summary, TimelineEntry
from sim.clock import DEFAULT_START, Clock, parse_timezone
from sim.inputs.units import format_duration

__all__ = [
    "fmt",
    "incident_rows",
    "moment",
    "since",
    "summary_clock",
    "summary_rows",
    "summary_table",
    "timeline_rows",
    "timeline_table",
]


def fmt(value: Any, kind: str = "") -> str:
    """Format a figure: ``pct`` as a percentage, ``s`` as seconds, else compactly."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if kind == "pct":
        return f"{100 * value:.3f}%"
    if kind == "s":
        return f"{value:.3f} s" if value < 100 else format_duration(value)
    if isinstance(value, float):
        return f"{value:,.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def summary_clock(summary: Summary, tz: str | None = None) -> Clock:
    """Clock time of a run's instants: its ``start`` shown in ``tz``, else its ``timezone``, else start's zone.

    A summary.json written before runs carried their start is read as starting at the default start.
    """
    start = dt.datetime.fromisoformat(summary.start) if summary.start else DEFAULT_START
    name = tz if tz is not None else summary.timezone
    return Clock(start, None if name is None else parse_timezone(name))


def moment(clock: Clock, seconds: float | None) -> str:
    """An instant in clock time with its offset beside it (``01:04 GMT (+7h04m)``), or "-" when it did not happen."""
    return "-" if seconds is None else clock.label(seconds)


def summary_table(summary: Summary, clock: Clock | None = None) -> Table:
    """One run's key figures as a two-column table."""
    table = Table(title=f"{summary.scenario} (seed {summary.seed}, strategy {summary.strategy})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for label, value in summary_rows(summary, clock):
        table.add_row(label, value)
    return table


def side_by_side(incident: Summary, baseline: Summary, clock: Clock | None = None) -> Table:
    """Two runs' key figures in columns: the scenario (incident day) and its baseline."""
    table = Table(title=f"{incident.scenario} (seed {incident.seed}, strategy {incident.strategy})")
    table.add_column("metric")
    table.add_column("incident day", justify="right")
    table.add_column("baseline", justify="right")
    theirs = dict(summary_rows(baseline, clock))
    for label, value in summary_rows(incident, clock):
        table.add_row(label, value, theirs.pop(label, "-"))
    for label, value in theirs.items():
        table.add_row(label, "-", value)
    return table


def summary_rows(summary: Summary, clock: Clock | None = None) -> list[tuple[str, str]]:
    """One run's key figures as ``(label, value)`` rows (the CLI table and the HTML report).

    Instants are in clock time (``clock``, default the run's own) with the offset from t = 0 beside them.
    """
    clock = clock or summary_clock(summary)
    req = summary.requests
    rows: list[tuple[str, str]] = [
        ("t = 0 (scenario start)", f"{clock.at(0):%Y-%m-%d} {clock.hm(0)}"),
        ("user requests offered", fmt(req.offered)),
        ("attempts (retries included)", fmt(req.attempts)),
        ("succeeded / failed / in flight", f"{req.succeeded:,} / {req.failed:,} / {req.in_flight:,}"),
        ("availability", fmt(summary.availability, "pct")),
        ("uptime (windows meeting SLO)", fmt(summary.uptime, "pct")),
        ("errors by code", ", ".join(f"{c}: {n:,}" for c, n in summary.errors_by_code.items()) or "none"),
    ]
    for figures, label in ((summary.latency_s, "latency"), (summary.wait_s, "queueing wait")):
        shown = (figures.mean, figures.p50, figures.p99)
        rows.append((f"{label} mean / p50 / p99", " / ".join(fmt(v, "s") for v in shown)))
    rows += [
        ("throughput / goodput", f"{fmt(summary.throughput_rps)} / {fmt(summary.goodput_rps)} req/s"),
        ("retry amplification", fmt(summary.retry_amplification)),
        ("utilisation", fmt(summary.utilization, "pct")),
    ]
    for trig in summary.triggers:
        recovered = "never" if trig.recovery_s is None else format_duration(trig.recovery_s)
        rows.append(
            (
                f"{trig.kind} on {trig.target} at {clock.label(trig.start_s)}",
                f"failed: {fmt(trig.failed)}, recovered after: {recovered}",
            )
        )
    rows += [("metastable", _metastable(summary)), *incident_rows(summary, clock)]
    rows += [
        ("simulated / wall time", f"{format_duration(summary.duration_s)} in {summary.wall_s:.2f} s"),
        ("simulated requests per wall second", fmt(summary.requests_per_wall_s)),
    ]
    return rows


def incident_rows(summary: Summary, clock: Clock) -> list[tuple[str, str]]:
    """Onset, detection, acknowledgement, recovery, peak error rate, outage reports and cost (when present)."""
    incident, pages, reports, cost = summary.incident, summary.status_page, summary.outage_reports, summary.cost
    if incident is None or pages is None or reports is None or cost is None:
        return []  # a summary.json written before the monitoring figures existed
    monitor, official = pages["monitor"], pages["official"]
    peak_at = incident.peak_error_rate_at_s
    return [
        ("impact onset (first window below SLO)", moment(clock, incident.onset_s)),
        (
            "time to detect: monitor / status page",
            f"{since(monitor.time_to_detect_s)} / {since(official.time_to_detect_s)}",
        ),
        (
            "time to acknowledge ('investigating')",
            f"{since(monitor.time_to_acknowledge_s)} / {since(official.time_to_acknowledge_s)}",
        ),
        ("time to recover (onset to back at SLO)", since(incident.time_to_recover_s)),
        ("status page worst state shown", f"{official.worst_state} (monitor: {monitor.worst_state})"),
        (
            "peak error rate (one window)",
            fmt(incident.peak_error_rate, "pct") + (f" at {clock.label(peak_at)}" if peak_at is not None else ""),
        ),
        ("user outage reports (total / peak window)", f"{reports.total:,} / {reports.peak_per_window:,}"),
        ("cost of downtime", _cost(cost)),
    ]


def timeline_rows(timeline: Sequence[TimelineEntry], clock: Clock) -> list[tuple[str, str, str]]:
    """``(clock time (offset), source, event)`` per entry of an incident timeline."""
    return [(moment(clock, e.at_s), e.source, e.label) for e in timeline]


def timeline_table(summary: Summary, clock: Clock) -> Table | None:
    """The run's incident timeline (triggers, impact, status posts) in clock time; None without one."""
    timeline = summary.incident.timeline if summary.incident is not None else None
    if not timeline:
        return None
    table = Table(title="incident timeline")
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("source")
    table.add_column("event")
    for row in timeline_rows(timeline, clock):
        table.add_row(*row)
    return table


def since(seconds: float | None) -> str:
    """A duration or moment in seconds, signed, or "-" when it did not happen within the run."""
    if seconds is None:
        return "-"
    if seconds == 0:
        return "0s"
    return ("-" if seconds < 0 else "") + format_duration(abs(seconds))


def _cost(cost: Cost) -> str:
    parts = f"failed ${cost.failed_requests_usd:,.0f}, late ${cost.late_requests_usd:,.0f}"
    return f"${cost.total_usd:,.0f} ({parts}, pipelines {cost.down_min:g} min ${cost.pipeline_usd:,.0f})"


def capacity_table(param: str, clauses: list[Any], evaluations: list[Any]) -> Table:
    """The search path of ``orchsim capacity``: one row per value tried."""
    table = Table(title=f"capacity search over {param}")
    table.add_column("step", justify="right")
    table.add_column(param, justify="right")
    for clause in clauses:
        table.add_column(f"{clause} (mean [95% CI])", justify="right")
    table.add_column("met")
    for step, e in enumerate(evaluations, start=1):
        cells = []
        for clause in clauses:
            i = e.figures[clause.metric]
            bounds = "" if i["ci_low"] is None else f" [{i['ci_low']:.4g}, {i['ci_high']:.4g}]"
            cells.append("-" if i["mean"] is None else f"{i['mean']:.4g}{bounds}")
        table.add_row(str(step), f"{e.value:g}", *cells, "yes" if e.met else "no")
    return table


def phase_table(spec: Any, cells: list[Any]) -> Table:
    """Magnitude x duration: share of seeds left metastable."""
    table = Table(title=f"metastability after a {spec.kind} trigger (share of seeds that did not recover)")
    table.add_column("magnitude", justify="right")
    for duration_s in spec.durations_s:
        table.add_column(format_duration(duration_s), justify="right")
    for magnitude in spec.magnitudes:
        row = [c for c in cells if c.magnitude == magnitude]
        table.add_row(
            f"{magnitude:g}",
            *(("METASTABLE " if c.metastable_share >= 0.5 else "recovers ") + f"{c.metastable_share:.0%}" for c in row),
        )
    return table


def _metastable(summary: Summary) -> str:
    if summary.metastable is not None:
        return fmt(summary.metastable)
    return "undetermined (the run ends too soon after the trigger)" if summary.triggers else "- (no trigger)"
