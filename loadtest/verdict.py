"""Simulated vs measured, row by row: the difference and a pass/fail against a tolerance.

Relative rows (throughput, latency, TTFT, retry amplification) pass when
``|measured - simulated| <= tolerance x |simulated|``; latency-like rows also pass within an
absolute floor (simulated seconds), the timer and scheduling noise of a real service. Absolute
rows (availability, the share of user requests failing with each code) pass when the
difference is within ``tolerance`` (a fraction: 0.02 = 2 percentage points).

Sampling noise: a 5-minute run of a queue has tail figures that move by 10-40% from seed to seed
(the p95 of a wait that is zero for 95% of requests, say), so no model could meet 10% there; and
the measured run is one draw of the real balancer's own randomness, not the simulator's. Each row
therefore compares the measured figure with the simulator's mean over ``n`` runs of the measured
arrivals (the run's seed and the extra seeds after it), not with one of them, and also passes
within ``noise`` standard deviations of that difference: the simulator's spread over the ``n`` runs
x sqrt(1 + 1/n), one run against the mean of ``n`` (a real run's spread taken to be the model's).
Such rows are marked: "pass*" in the table, ``"within_noise_only": true`` in the JSON.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from typing import Any

from rich.table import Table

from sim.analysis.metric_registry import unit_of
from sim.analysis.summary import Stats, Summary

__all__ = ["Row", "Tolerances", "build_rows", "metric_values", "parse_tolerances", "rows_table", "with_noise"]


@dataclass(frozen=True)
class Tolerances:
    """Allowed differences; ``floor_s`` is the absolute slack of latency-like rows (simulated s)."""

    latency: float = 0.10
    throughput: float = 0.10
    retries: float = 0.10
    availability: float = 0.02
    errors: float = 0.02
    floor_s: float = 0.05
    noise: float = 2.0  # standard deviations of a two-run difference; 0 turns the noise band off
    # the apparatus's lateness p99 (way in + out) allowed, as a fraction of the shortest mean service time
    # (or client timeout); beyond it the run is inconclusive (the load generator was starved)
    apparatus: float = 1.0


def parse_tolerances(items: list[str]) -> Tolerances:
    """``KIND=VALUE`` items (e.g. ``latency=0.15``); ValueError naming the bad item."""
    tolerances = Tolerances()
    names = [f for f in Tolerances.__dataclass_fields__]
    for item in items:
        kind, sep, text = item.partition("=")
        kind = "floor_s" if kind.strip() == "floor" else kind.strip()
        if not sep or kind not in names:
            raise ValueError(f"--tolerance {item!r}: use KIND=VALUE with KIND one of {', '.join(names)}")
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"--tolerance {item!r}: {text!r} is not a number") from None
        if not value >= 0:
            raise ValueError(f"--tolerance {item!r}: must be >= 0")
        tolerances = replace(tolerances, **{kind: value})
    return tolerances


@dataclass(frozen=True)
class Row:
    """One compared figure."""

    metric: str
    simulated: float | None
    measured: float | None
    kind: str  # "relative" or "absolute"
    tolerance: float
    floor: float = 0.0
    noise_band: float = 0.0  # absolute: the spread of one run's difference from the mean of ``runs``
    runs: int = 1  # simulated runs ``simulated`` is the mean of (the run's seed and the noise seeds)
    seed_value: float | None = None  # the run's own seed's figure, when ``simulated`` is a mean over runs

    @property
    def difference(self) -> float | None:
        """Relative (fraction of simulated) or absolute difference, measured minus simulated."""
        if self.simulated is None or self.measured is None:
            return None
        gap = self.measured - self.simulated
        if self.kind == "absolute":
            return gap
        return gap / abs(self.simulated) if self.simulated else (0.0 if gap == 0 else None)

    @property
    def allowed(self) -> float:
        """The absolute gap the tolerance (or the floor) allows, noise aside."""
        scale = 1.0 if self.kind == "absolute" or self.simulated is None else abs(self.simulated)
        return max(self.tolerance * scale, self.floor)

    @property
    def passed(self) -> bool:
        if self.simulated is None or self.measured is None:
            return self.simulated is None and self.measured is None
        return abs(self.measured - self.simulated) <= max(self.allowed, self.noise_band) + 1e-12

    @property
    def within_noise_only(self) -> bool:
        """Passed only because the gap is within the sampling noise, not within the tolerance."""
        if not self.passed or self.simulated is None or self.measured is None:
            return False
        return abs(self.measured - self.simulated) > self.allowed + 1e-12

    def as_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "simulated": self.simulated,
            "measured": self.measured,
            "difference": self.difference,
            "tolerance": self.tolerance,
            "floor": self.floor,
            "kind": self.kind,
            "noise_band": self.noise_band,
            "simulated_runs": self.runs,
            "simulated_seed": self.seed_value if self.runs > 1 else self.simulated,
            "within_noise_only": self.within_noise_only,
            "pass": self.passed,
        }


LATENCY_KEYS = ("mean", "p50", "p95", "p99")


def build_rows(sim: Summary, real: Summary, tol: Tolerances) -> list[Row]:
    """Rows from the two sides' summaries."""
    rows = [
        Row("throughput_rps", sim.throughput_rps, real.throughput_rps, "relative", tol.throughput),
        Row("availability", sim.availability, real.availability, "absolute", tol.availability),
    ]
    for code in sorted(set(sim.errors_by_code) | set(real.errors_by_code), key=int):
        rows.append(
            Row(f"errors.{code} (share)", _share(sim, code), _share(real, code), "absolute", tol.errors),
        )
    groups: tuple[tuple[str, Stats, Stats], ...] = (
        ("latency_s", sim.latency_s, real.latency_s),
        ("wait_s", sim.wait_s, real.wait_s),
    )
    if real.ttft_s.mean is not None or sim.ttft_s.mean is not None:
        groups += (("ttft_s", sim.ttft_s, real.ttft_s),)
    for group, mine, theirs in groups:
        for key in LATENCY_KEYS if group != "wait_s" else ("mean", "p95"):
            simulated, measured = getattr(mine, key), getattr(theirs, key)
            rows.append(Row(f"{group}.{key}", simulated, measured, "relative", tol.latency, tol.floor_s))
    rows.append(Row("retry_amplification", sim.retry_amplification, real.retry_amplification, "relative", tol.retries))
    return rows


def _share(summary: Summary, code: str) -> float:
    offered = summary.requests.offered
    return summary.errors_by_code.get(code, 0) / offered if offered else 0.0


def rows_table(rows: list[Row], title: str) -> Table:
    """The side-by-side table."""
    table = Table(title=title)
    runs = max((row.runs for row in rows), default=1)
    simulated = f"simulated (mean of {runs} runs)" if runs > 1 else "simulated"
    for name, justify in (("metric", "left"), (simulated, "right"), ("measured", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("difference", justify="right")
    table.add_column("tolerance", justify="right")
    table.add_column("noise ±", justify="right")
    table.add_column("pass", justify="center")
    for row in rows:
        table.add_row(
            row.metric,
            _value(row.simulated, row.metric),
            _value(row.measured, row.metric),
            _difference(row),
            _tolerance(row),
            _band(row),
            ("[yellow]pass*[/]" if row.within_noise_only else "[green]pass[/]") if row.passed else "[red]FAIL[/]",
        )
    return table


def _value(value: float | None, metric: str) -> str:
    if value is None:
        return "-"
    unit = "share" if metric.startswith("errors.") else unit_of(metric)  # errors.CODE (share): of offered
    if unit == "share":
        return f"{100 * value:.2f}%"
    if unit == "s":
        return f"{value:.3f} s"
    return f"{value:,.3f}"


def _difference(row: Row) -> str:
    gap = row.difference
    if gap is None:
        return "-"
    return f"{100 * gap:+.2f} pp" if row.kind == "absolute" else f"{100 * gap:+.1f}%"


def _tolerance(row: Row) -> str:
    if row.kind == "absolute":
        return f"±{100 * row.tolerance:g} pp"
    floor = f" or {row.floor:g} s" if row.floor else ""
    return f"±{100 * row.tolerance:g}%{floor}"


def _band(row: Row) -> str:
    if not row.noise_band:
        return "-"
    return f"{100 * row.noise_band:.2f} pp" if row.kind == "absolute" else _value(row.noise_band, row.metric)


def with_noise(rows: list[Row], seed_values: dict[str, list[float | None]], k: float) -> list[Row]:
    """``rows`` judged against the simulator's mean over the run's seed and ``seed_values`` (the extra
    seeds), with noise bands of ``k`` x their standard deviation x sqrt(1 + 1/n) over the n runs. A row
    with no simulated figure keeps none; with fewer than two figures a row stays as it is."""
    out = []
    for row in rows:
        others = [v for v in seed_values.get(row.metric, []) if v is not None]
        if row.simulated is None or not others:
            out.append(row)
            continue
        values = [row.simulated, *others]
        n = len(values)
        band = k * statistics.stdev(values) * math.sqrt(1.0 + 1.0 / n) if k > 0 else 0.0
        out.append(replace(row, simulated=statistics.fmean(values), noise_band=band, runs=n, seed_value=row.simulated))
    return out


def metric_values(summary: Summary, tol: Tolerances) -> dict[str, float | None]:
    """Every row's value for one summary (the simulated side of each row)."""
    return {row.metric: row.simulated for row in build_rows(summary, summary, tol)}
