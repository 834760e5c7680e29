"""The metric vocabulary: every numeric figure of ``summary.json`` by dotted name, with its unit, which
direction is better, how runs over seeds are aggregated, what a run without it counts, and whether
``--rank-by`` and ``--target`` take it. ``Summary.figure`` (a figure by name, for the comparison, the
sweep and the capacity targets), ``orchsim compare`` (ranking, table columns' units), ``orchsim capacity``
(which targets it takes) and the report's comparison table read it from here.

A name may hold a placeholder for a part that varies: ``{code}`` (an HTTP status, three digits),
``{class}`` (a request class), ``{page}`` (a status page: monitor or official).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

__all__ = ["METRICS", "UNIT_NAMES", "Metric", "check_metric", "higher_is_better", "lookup", "settings", "unit_of"]

Better = Literal["higher", "lower", "none"]
Aggregate = Literal["mean", "setting"]


@dataclass(frozen=True)
class Metric:
    """One figure (or a family of them when the name holds a placeholder)."""

    name: str
    unit: str  # share (0-1), s, rps, count, usd, min, tokens/s, flag (0/1), factor
    better: Better = "lower"  # none: a description of the run, not a goal
    aggregate: Aggregate = "mean"  # mean: mean and 95% Student-t interval over seeds; setting: the run's own input
    rankable: bool = False  # --rank-by and --target take it (defined on every run)
    absent_is_zero: bool = False  # a run whose summary lacks it counts 0 (an error code that never occurred)


STATS = ("mean", "p50", "p90", "p95", "p99", "max")
_PLACEHOLDERS = {"{code}": r"\d{3}", "{class}": r"[^.]+", "{page}": r"[^.]+"}


def _stats(prefix: str, unit: str, rankable: bool) -> list[Metric]:
    return [Metric(f"{prefix}.{s}", unit, "lower", rankable=rankable) for s in STATS]


def _observer(page: str) -> list[Metric]:
    moments = ("detected_s", "acknowledged_s", "resolved_s")
    times = ("time_to_detect_s", "time_to_acknowledge_s", "time_to_resolve_s")
    out = [Metric(f"status_page.{page}.{m}", "s", "none") for m in moments]
    return (
        out
        + [Metric(f"status_page.{page}.{t}", "s") for t in times]
        + [Metric(f"status_page.{page}.episodes", "count")]
    )


METRICS: tuple[Metric, ...] = (
    Metric("seed", "count", "none", "setting"),
    Metric("duration_s", "s", "none", "setting"),
    Metric("warmup_s", "s", "none", "setting"),
    Metric("requests.offered", "count", "none", rankable=True),
    Metric("requests.attempts", "count", rankable=True),
    Metric("requests.succeeded", "count", "higher", rankable=True),
    Metric("requests.failed", "count", rankable=True),
    Metric("requests.in_flight", "count", rankable=True),
    Metric("requests.regenerated", "count"),
    Metric("errors_by_code.{code}", "count", rankable=True, absent_is_zero=True),
    Metric("availability", "share", "higher", rankable=True),
    Metric("uptime", "share", "higher", rankable=True),
    *_stats("latency_s", "s", rankable=True),
    *_stats("wait_s", "s", rankable=True),
    *_stats("ttft_s", "s", rankable=True),
    *_stats("itl_s", "s", rankable=False),
    *_stats("tpot_s", "s", rankable=True),
    Metric("tokens_per_s.input", "tokens/s", "higher"),
    Metric("tokens_per_s.output", "tokens/s", "higher"),
    Metric("throughput_rps", "rps", "higher", rankable=True),
    Metric("goodput_rps", "rps", "higher", rankable=True),
    Metric("retry_amplification", "factor", rankable=True),
    Metric("utilization", "share", rankable=True),
    Metric("metastable", "flag", rankable=True),
    Metric("wall_s", "s", "none"),
    Metric("events", "count", "none"),
    Metric("requests_per_wall_s", "rps", "none"),
    Metric("classes.{class}.offered", "count", "none"),
    Metric("classes.{class}.availability", "share", "higher"),
    *_stats("classes.{class}.latency_s", "s", rankable=False),
    *_stats("classes.{class}.ttft_s", "s", rankable=False),
    Metric("llm.preemptions", "count"),
    Metric("llm.batch_size_mean", "count", "none"),
    Metric("llm.kv_cache_utilization_mean", "share", "none"),
    Metric("llm.kv_cache_utilization_max", "share", "none"),
    Metric("incident.onset_s", "s", "none"),
    Metric("incident.end_s", "s", "none"),
    Metric("incident.time_to_recover_s", "s"),
    Metric("incident.incidents", "count"),
    Metric("incident.down_windows", "count", rankable=True),
    Metric("incident.peak_error_rate", "share", rankable=True),
    Metric("incident.peak_error_rate_at_s", "s", "none"),
    *_observer("{page}"),
    Metric("outage_reports.total", "count", rankable=True),
    Metric("outage_reports.during_incident", "count", rankable=True),
    Metric("outage_reports.peak_per_window", "count", rankable=True),
    Metric("outage_reports.peak_at_s", "s", "none"),
    Metric("outage_reports.background_per_day", "count", "none"),
    Metric("cost.total_usd", "usd", rankable=True),
    Metric("cost.failed_requests_usd", "usd", rankable=True),
    Metric("cost.late_requests_usd", "usd", rankable=True),
    Metric("cost.pipeline_usd", "usd", rankable=True),
    Metric("cost.down_min", "min", rankable=True),
    Metric("cost.failed", "count"),
    Metric("cost.late", "count"),
)


@cache
def _patterns() -> list[tuple[re.Pattern[str], Metric]]:
    out = []
    for metric in METRICS:
        pattern = re.escape(metric.name)
        for placeholder, part in _PLACEHOLDERS.items():
            pattern = pattern.replace(re.escape(placeholder), part)
        out.append((re.compile(f"^{pattern}$"), metric))
    return out


def lookup(name: str) -> Metric | None:
    """The registry's entry for the dotted ``name`` (placeholders matched), or None."""
    return next((metric for pattern, metric in _patterns() if pattern.match(name)), None)


UNIT_NAMES = {"s": "s", "rps": "req/s", "usd": "USD", "min": "min", "tokens/s": "tokens/s"}
"""How a table heading names a unit (shares, counts, flags and factors go without)."""


def unit_of(name: str) -> str | None:
    """The registered unit of the dotted ``name`` (None for an unregistered name)."""
    metric = lookup(name)
    return None if metric is None else metric.unit


def higher_is_better(name: str) -> bool:
    """True for figures where more is better (availability, throughput, ...)."""
    metric = lookup(name)
    return metric is not None and metric.better == "higher"


def settings() -> set[str]:
    """Summary figures that describe the run (its seed, duration...), not its outcome."""
    return {m.name for m in METRICS if m.aggregate == "setting"}


def check_metric(name: str, option: str = "--rank-by") -> None:
    """Raise ValueError unless ``name`` is a figure ``--rank-by`` and ``--target`` take."""
    metric = lookup(name)
    if metric is None or not metric.rankable:
        examples = "availability, latency_s.p99, errors_by_code.503, cost.total_usd"
        raise ValueError(f"{option}: unknown metric {name!r} (e.g. {examples})")
