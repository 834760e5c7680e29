"""orchsim from Python: load a scenario, run it, compare strategies, sweep a grid.

Every function returns a typed result and neither prints nor writes files (the CLI verbs do that)::

    from sim import api

    scenario = api.load_scenario("peak-hour-surge", overrides={"duration": "30m"})
    result = api.run(scenario, seed=2)
    result.summary["availability"], result.timeseries["failed"]
    result.typed_summary.latency_s.p99  # the same summary, typed

The figures are those of the CLI's output files: ``RunResult.summary`` is ``summary.json`` (a dict;
``RunResult.typed_summary`` the same figures as a typed ``sim.analysis.summary.Summary``),
``RunResult.timeseries`` the columns of ``timeseries.csv``, ``ComparisonResult.document``
``comparison.json``, and ``SweepResult.points`` the rows of ``sweep_aggregate.csv``.
Invalid input raises ``ScenarioError`` (its ``lines`` name the file and field) or ``ValueError``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.analysis.summary import Summary
from sim.experiments.compare import Comparison, parse_mitigations, parse_variants, run_comparison, variant_scenarios
from sim.experiments.executors import run_tasks
from sim.experiments.simulate import simulate_and_summarise
from sim.experiments.sweep import Grid, SweepRecord, point_scenarios, run_point
from sim.inputs.yamlio import flow_yaml
from sim.output.compare_output import comparison_document
from sim.output.sweep_output import aggregate
from sim.scenario import Scenario
from sim.scenario.loading import ScenarioError
from sim.scenario.loading import load_scenario as _load
from sim.scenario.paths import resolve_scenario, shipped_scenarios

__all__ = [
    "ComparisonResult",
    "Overrides",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "SweepResult",
    "compare",
    "load_scenario",
    "run",
    "shipped_scenarios",
    "sweep",
]

Overrides = Mapping[str, Any] | Sequence[str] | None
"""``{"workload.rate": 150}`` or ``["workload.rate=150"]``: the CLI's ``--set PATH=VALUE`` items."""


@dataclass(frozen=True)
class RunResult:
    """One simulation: ``summary`` (summary.json as a dict), ``timeseries`` (timeseries.csv's columns, numpy
    arrays; ``time`` holds ISO-8601 clock times) and ``typed_summary`` (the same summary typed:
    ``typed_summary.latency_s.p99``, ``typed_summary.figure("errors_by_code.503")``)."""

    scenario: Scenario
    seed: int
    summary: dict[str, Any]
    timeseries: dict[str, np.ndarray]
    typed_summary: Summary

    @property
    def times(self) -> list[dt.datetime]:
        """Clock time of each window's start (aware date-times in the scenario's zone)."""
        clock = self.scenario.clock()
        return [clock.at(float(s)) for s in self.timeseries["start_s"]]


@dataclass(frozen=True)
class ComparisonResult:
    """Rows x seeds on common random numbers: ``document`` is comparison.json."""

    document: dict[str, Any]

    @property
    def ranking(self) -> list[dict[str, Any]]:
        """Rows best first: strategy, rank (equal means share one), mean, paired difference to the best."""
        rows: list[dict[str, Any]] = self.document["ranking"]
        return rows

    @property
    def best(self) -> list[str]:
        """The row(s) ranked first (several when their means are equal)."""
        return [row["strategy"] for row in self.ranking if row["rank"] == 1]

    def interval(self, row: str, metric: str) -> dict[str, float | None]:
        """Mean and 95% CI of ``metric`` (a dotted summary.json name such as ``latency_s.p99``) for ``row``."""
        figures: dict[str, float | None] = self.document["strategies"][row][metric]
        return figures


@dataclass(frozen=True)
class SweepResult:
    """Every grid point x seed: ``records`` (point, seed, summary) and ``points`` (mean and 95% CI per figure)."""

    params: list[str]
    seeds: list[int]
    records: list[dict[str, Any]]
    points: list[dict[str, Any]]


def load_scenario(path_or_name: str | Path, overrides: Overrides = None) -> Scenario:
    """The validated scenario of a file or of a shipped scenario's name (``"peak-hour-surge"``)."""
    return _load(resolve_scenario(path_or_name), _sets(overrides))


def run(
    scenario: Scenario | str | Path,
    seed: int | None = None,
    overrides: Overrides = None,
    progress: Callable[[float, float], None] | None = None,
) -> RunResult:
    """Simulate once (seed: the scenario's own by default); ``progress(now_s, end_s)`` is called as it goes."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, overrides)
    elif overrides:
        raise ValueError("overrides: give them to load_scenario (a Scenario object is already validated)")
    seed = scenario.seed if seed is None else seed
    run = simulate_and_summarise(scenario, seed, progress=progress, monitoring=True)
    table = {"time": np.array(scenario.clock().iso_column(run.series["start_s"])), **run.series}
    series = {k: np.asarray(v) for k, v in table.items()}
    return RunResult(scenario, seed, run.summary.to_dict(), series, run.summary)


def compare(
    scenario: str | Path,
    strategies: Sequence[str] | str = (),
    *,
    variants: Mapping[str, Sequence[str]] | None = None,
    seeds: int | Sequence[int] = 5,
    jobs: int = 1,
    rank_by: str = "availability",
    overrides: Overrides = None,
) -> ComparisonResult:
    """Every strategy (``"power_of_d:d=3"`` takes parameters) and every variant (name -> ``PATH=VALUE``
    overrides on the scenario's own routing) on the same workloads for each seed; see ``orchsim compare``."""
    from sim.analysis.metric_registry import check_metric

    check_metric(rank_by)
    text = strategies if isinstance(strategies, str) else ",".join(strategies)
    rows = parse_variants(text) if text else []
    mitigations = parse_mitigations([[name, *sets] for name, sets in (variants or {}).items()])
    scenarios = variant_scenarios(resolve_scenario(scenario), _sets(overrides), rows, mitigations)
    first = next(iter(scenarios.values()))
    seed_list = _seeds(seeds, first)
    comparison: Comparison = run_comparison(scenarios, seed_list, jobs, rank_by)
    return ComparisonResult(comparison_document(comparison, first.name))


def sweep(
    scenario: str | Path,
    grid: Mapping[str, Sequence[Any]],
    *,
    seeds: int | Sequence[int] = 3,
    jobs: int = 1,
    overrides: Overrides = None,
) -> SweepResult:
    """Every combination of ``grid`` (``{"clusters.0.servers": [8, 10]}``) for each seed; see ``orchsim sweep``.
    A failed run raises ``RuntimeError`` naming its point and seed."""
    if not grid or any(len(values) == 0 for values in grid.values()):
        raise ValueError("grid: give each parameter path at least one value")
    spec = Grid(list(grid), [list(values) for values in grid.values()])
    scenarios = point_scenarios(resolve_scenario(scenario), _sets(overrides), spec)
    seed_list = _seeds(seeds, scenarios[0])
    points = spec.points()
    tasks = [(i, seed) for i in range(len(points)) for seed in seed_list]
    records: list[SweepRecord | None] = [None] * len(tasks)
    for index, summary, error in run_tasks(run_point, [(scenarios[i], s) for i, s in tasks], jobs):
        point, seed = points[tasks[index][0]], tasks[index][1]
        if error is not None:
            raise RuntimeError(f"sweep point {point} seed {seed} failed: {type(error).__name__}: {error}") from error
        records[index] = SweepRecord(point, seed, summary)
    done = [r for r in records if r is not None]
    return SweepResult(spec.params, seed_list, [r.to_dict() for r in done], aggregate(spec, done))


def _sets(overrides: Overrides) -> list[str]:
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return [f"{path}={flow_yaml(value)}" for path, value in overrides.items()]
    if isinstance(overrides, str):
        raise ValueError("overrides: give a mapping {PATH: VALUE} or a list of 'PATH=VALUE' strings")
    return list(overrides)


def _seeds(seeds: int | Sequence[int], scenario: Scenario) -> list[int]:
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError(f"seeds: must be at least 1 (got {seeds})")
        return [scenario.seed + k for k in range(seeds)]
    return list(seeds)
