"""``orchsim compare``: the same workload for every strategy (common random numbers), many seeds."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sim.analysis.metric_registry import higher_is_better, settings
from sim.analysis.stats import Interval, mean_ci
from sim.analysis.summary import Summary
from sim.experiments.executors import run_tasks
from sim.experiments.simulate import simulate_and_summarise
from sim.inputs.yamlio import flow_yaml, load_yaml
from sim.scenario import Scenario
from sim.scenario.loading import ScenarioError, load_scenario
from sim.workload.trace import Trace, generate_trace

__all__ = [
    "CRN_NOTE",
    "Comparison",
    "Mitigation",
    "RowRun",
    "Variant",
    "parse_mitigations",
    "parse_variants",
    "run_comparison",
    "shared_trace",
    "variant_scenarios",
]

CRN_NOTE = (
    "common random numbers: for each seed every row sees the identical arrival trace and the "
    "identical service-time stream of each server; only its strategy or its settings differ"
)
QUANTILES = np.linspace(0.0, 1.0, 201)


@dataclass(frozen=True)
class Variant:
    """One strategy with its parameters, as written on the command line."""

    label: str
    strategy: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Mitigation:
    """A named set of scenario overrides (``--variant NAME PATH=VALUE ...``), on the scenario's own strategy."""

    label: str
    overrides: list[str] = field(default_factory=list)


def parse_mitigations(items: list[list[str]]) -> list[Mitigation]:
    """``[[NAME, PATH=VALUE, ...], ...]`` from repeated ``--variant`` options -> mitigations."""
    out = []
    for name, *sets in items:
        if not name.strip() or "=" in name:
            raise ValueError(f"--variant: start with a name for the row, then PATH=VALUE items (got {name!r})")
        bad = [s for s in sets if "=" not in s]
        if bad:
            raise ValueError(f"--variant {name}: expected PATH=VALUE (got {bad[0]!r})")
        fixed = [s for s in sets if s.partition("=")[0].strip() in ("seed", "name")]
        if fixed:
            raise ValueError(f"--variant {name}: {fixed[0]!r}: every row runs the same seeds under one name")
        out.append(Mitigation(label=name.strip(), overrides=sets))
    return out


def parse_variants(text: str) -> list[Variant]:
    """``a,b:k=v,k2=v,c`` -> variants; a ``k=v`` item without ``:`` belongs to the one before it."""
    variants: list[tuple[str, list[str]]] = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        if "=" in item and ":" not in item:
            if not variants:
                raise ValueError(f"--strategies: parameter {item!r} comes before any strategy")
            variants[-1][1].append(item)
        else:
            name, _, first = item.partition(":")
            variants.append((name.strip(), [first] if first else []))
    if not variants:
        raise ValueError("--strategies: give at least one strategy")
    out = [_variant(name, items) for name, items in variants]
    labels = [v.label for v in out]
    if len(set(labels)) != len(labels):
        raise ValueError(f"--strategies: a strategy is listed twice ({', '.join(labels)})")
    return out


def _variant(name: str, items: list[str]) -> Variant:
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--strategies: expected NAME:PARAM=VALUE (got {name}:{item})")
        try:
            params[key.strip()] = load_yaml(value) if value.strip() else None
        except yaml.YAMLError:
            raise ValueError(f"--strategies: cannot read the value of {name}:{item}") from None
    return Variant(label=f"{name}:{','.join(items)}" if items else name, strategy=name, params=params)


def variant_scenarios(
    path: Path, overrides: list[str], variants: list[Variant], mitigations: list[Mitigation] | None = None
) -> dict[str, Scenario]:
    """The scenario of each row, validated (ScenarioError on problems).

    A strategy row puts its strategy on every cluster; a mitigation row keeps the scenario's routing and
    applies its own overrides after the common ones.
    """
    mitigations = mitigations or []
    labels = [v.label for v in variants] + [m.label for m in mitigations]
    if not labels:
        raise ScenarioError(["orchsim compare: give --strategies, --variant or both"])
    if len(set(labels)) != len(labels):
        raise ScenarioError([f"orchsim compare: row names must differ (got {', '.join(labels)})"])
    base = load_scenario(path, overrides)
    reset = [f"clusters.{i}.strategy=null" for i in range(len(base.clusters))]
    reset += [f"clusters.{i}.params=null" for i in range(len(base.clusters))]
    out, problems = {}, []
    for v in variants:
        sets = [*overrides, *reset, f"router.strategy={v.strategy}", "router.params={}"]
        sets += [f"router.params.{k}={flow_yaml(value)}" for k, value in v.params.items()]
        try:
            out[v.label] = load_scenario(path, sets)
        except ScenarioError as exc:
            problems += [f"{line} [in --strategies {v.label}]" for line in exc.lines]
    for m in mitigations:
        try:
            out[m.label] = load_scenario(path, [*overrides, *m.overrides])
        except ScenarioError as exc:
            problems += [f"{line} [in --variant {m.label}]" for line in exc.lines]
    if problems:
        raise ScenarioError(problems)
    return out


@dataclass(frozen=True)
class RowRun:
    """One (row, seed) run of a comparison: its summary, a few per-window series (plots) and the latency
    quantiles at ``QUANTILES`` of its successful requests (None when none succeeded)."""

    strategy: str  # the row's label
    seed: int
    summary: Summary
    series: dict[str, list[float]] = field(default_factory=dict)  # start_s, failed, queue_depth
    latency_quantiles: list[float] | None = None


def run_one(label: str, scenario: Scenario, seed: int) -> RowRun:
    """One (strategy, seed) run: its summary, a few per-window series and latency quantiles."""
    run = simulate_and_summarise(scenario, seed, trace=shared_trace(scenario, seed), shown=False)
    result, series = run.result, run.series
    ok = result.req_code == 200
    measured = ok & (result.arrival_s >= scenario.warmup)
    latency = (result.req_end_s - result.arrival_s)[measured]
    quantiles = np.quantile(latency, QUANTILES).tolist() if latency.size else None
    return RowRun(
        strategy=label,
        seed=seed,
        summary=run.summary,
        series={k: series[k].tolist() for k in ("start_s", "failed", "queue_depth")},
        latency_quantiles=quantiles,
    )


_TRACES: dict[tuple[int, float, str], Trace] = {}  # this process's latest trace, by what it is drawn from


def shared_trace(scenario: Scenario, seed: int) -> Trace:
    """The arrival trace of ``scenario`` for ``seed``, drawn once per process for consecutive rows that share it.

    A trace is a function of the workload, the duration and the seed only, so rows that change anything
    else get the very trace they would draw (common random numbers); the engine copies its columns and
    never writes to them. One trace is kept at a time (the flagship day's takes ~20 MB).
    """
    key = (seed, scenario.duration, scenario.workload.model_dump_json())
    trace = _TRACES.get(key)
    if trace is None:
        _TRACES.clear()
        trace = _TRACES[key] = generate_trace(scenario, seed)
    return trace


@dataclass
class Comparison:
    """All runs of a comparison and their aggregates."""

    labels: list[str]
    seeds: list[int]
    runs: list[RowRun]
    rank_by: str

    def by_seed(self, label: str, metric: str) -> dict[int, float]:
        """The metric per seed for ``label``; seeds where it is undefined (e.g. no success) are absent.

        An error code that never occurred counts 0.
        """
        rows = {r.seed: r.summary.figure(metric) for r in self.runs if r.strategy == label}
        return {seed: v for seed, v in rows.items() if v is not None}

    def values(self, label: str, metric: str) -> list[float]:
        """The metric's defined values over seeds, in seed order."""
        return list(self.by_seed(label, metric).values())

    def metrics(self) -> list[str]:
        """Every numeric figure seen in any run (not the run's own settings), sorted."""
        return sorted({k for r in self.runs for k in r.summary.figures} - settings())

    def aggregate(self) -> dict[str, dict[str, Interval]]:
        """Per strategy and metric: mean and 95% interval over seeds."""
        return {label: {m: mean_ci(self.values(label, m)) for m in self.metrics()} for label in self.labels}

    def ranking(self) -> list[dict[str, Any]]:
        """Strategies best first on ``rank_by``, each with its rank (equal means share one), its paired
        difference to the best and whether that difference is distinguishable from zero."""
        sign = -1.0 if higher_is_better(self.rank_by) else 1.0
        means = {label: mean_ci(self.values(label, self.rank_by))["mean"] for label in self.labels}
        missing = {label: len(self.seeds) - len(self.by_seed(label, self.rank_by)) for label in self.labels}

        def key(label: str) -> tuple[int, float, str]:
            # a strategy whose figure is undefined on some seeds (nothing succeeded) ranks after the rest
            mean = means[label]
            return (missing[label], math.inf if mean is None else sign * mean, label)

        order = sorted(self.labels, key=key)
        best = order[0]
        out: list[dict[str, Any]] = []
        for place, label in enumerate(order, start=1):
            diff = mean_ci(self._paired(label, best))
            low, high = diff["ci_low"], diff["ci_high"]
            distinct = low is not None and high is not None and (low > 0 or high < 0)
            tied = bool(out) and key(label)[:2] == key(out[-1]["strategy"])[:2]
            out.append(
                {
                    "strategy": label,
                    "rank": out[-1]["rank"] if tied else place,  # equal means share a rank (1, 1, 3)
                    "mean": means[label],
                    "difference_to_best": diff,
                    "distinguishable": distinct,
                    "undefined_seeds": missing[label],
                }
            )
        return out

    def _paired(self, label: str, best: str) -> list[float]:
        mine, theirs = self.by_seed(label, self.rank_by), self.by_seed(best, self.rank_by)
        return [mine[s] - theirs[s] for s in self.seeds if s in mine and s in theirs]


def run_comparison(
    scenarios: dict[str, Scenario],
    seeds: list[int],
    jobs: int,
    rank_by: str,
    progress: Callable[[int, int], None] | None = None,
) -> Comparison:
    """Run every (strategy, seed) pair on ``jobs`` processes; results do not depend on ``jobs``.

    Seed by seed, so that a process runs one seed's rows in turn and draws its trace once; a row whose
    scenario is an earlier row's, field for field, is not simulated again (same scenario and seed: the same run).
    """
    labels = list(scenarios)
    dumps = {label: scenarios[label].model_dump_json() for label in labels}  # strict: 1 and 1.0 differ here
    same_as = {label: next(other for other in labels if dumps[other] == dumps[label]) for label in labels}
    tasks = [(label, scenarios[label], seed) for seed in seeds for label in labels if same_as[label] == label]
    total = len(labels) * len(seeds)
    copies = {label: sum(same_as[other] == label for other in labels) for label in labels}
    done: dict[tuple[str, int], RowRun] = {}
    finished = 0
    for index, result, error in run_tasks(run_one, tasks, jobs):
        label, _, seed = tasks[index]
        if error is not None:
            raise RuntimeError(f"{label} seed {seed} failed: {type(error).__name__}: {error}") from error
        done[label, seed] = result
        finished += copies[label]
        if progress is not None:
            progress(finished, total)
    runs = [
        done[label, seed] if same_as[label] == label else replace(done[same_as[label], seed], strategy=label)
        for label in labels
        for seed in seeds
    ]
    return Comparison(labels=labels, seeds=seeds, runs=runs, rank_by=rank_by)
