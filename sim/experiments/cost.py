"""What a scenario will cost before it runs: requests, simulation events, memory and time-series rows,
estimated from its fields alone, so that a run that would take hours or end in a MemoryError is
refused at once (exit 2, with the estimate and the field driving it); ``--force`` runs it anyway.

The figures are upper-side estimates, not predictions: the peak arrival rate over the whole run
(closed loop: ``requests_per_user`` per user, else one request per user per second of think time,
at least), every retry taken, a fixed cost per request and per server.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.inputs.datafiles import read_trace
from sim.scenario import Scenario
from sim.scenario.loading import load_baseline, load_scenario
from sim.scenario.paths import flagship_scenario, scenarios_dir

__all__ = ["LIMITS", "TOTAL_EVENTS", "Estimate", "cli_refusal", "estimate", "plan_refusal", "refusal", "seeds_refusal"]

EVENTS_PER_ATTEMPT = 12  # simulation events of one attempt (arrival, routing, queue, service, answer...)
BYTES_PER_ATTEMPT = 400  # its records and in-flight objects
BYTES_PER_SERVER = 20_000  # a server's processes, queues and state
BYTES_PER_ROW = 2_000  # one time-series window over every column and cluster, while being built
LIMITS = {"events": 2e9, "memory_bytes": 16e9, "rows": 1e6}  # 30x, 7x and 700x the shipped scenarios' largest
TOTAL_EVENTS = 2e10  # every run of one compare, sweep or phase: 280x the flagship day (~4 CPU-hours)
SCENARIO_VERBS = ("run", "serve", "validate")  # they run the scenario as given; the others estimate each run


@dataclass(frozen=True)
class Estimate:
    """Upper-side cost of one run, and the scenario field that drives each figure most."""

    requests: float
    events: float
    memory_bytes: float
    rows: float
    drivers: dict[str, str]

    def line(self) -> str:
        """One line for ``orchsim check`` and for a refusal."""
        return (
            f"~{self.requests:.3g} requests, ~{self.events:.3g} events, ~{self.memory_bytes / 1e6:.3g} MB, "
            f"{self.rows:.3g} time-series rows"
        )


def _peak_rate_rps(scenario: Scenario) -> float:
    workload = scenario.workload
    rate = workload.rate or 0.0
    if workload.profile is not None:
        rate = max(point.rate_rps(workload.rate or 0.0) for point in workload.profile)
    return rate * math.prod(max(s.factor, 1.0) for s in workload.surges)  # as the arrivals are drawn


def estimate(scenario: Scenario) -> Estimate:
    """The cost of simulating ``scenario`` once."""
    horizon_s = scenario.duration + scenario.drain
    workload = scenario.workload
    if workload.trace is not None:
        requests = float(len(read_trace(Path(workload.trace.file)).key))
        request_field = "workload.trace.file"
    elif workload.rate is None:  # closed loop: each user's requests one after another
        per_user = workload.requests_per_user or scenario.duration / max(workload.think_time, 1.0)
        requests = float(workload.users or 0) * per_user
        request_field = "workload.users"
    else:
        requests = _peak_rate_rps(scenario) * scenario.duration
        surged = any(surge.factor > 1 for surge in workload.surges)
        request_field = "workload.rate x workload.surges" if surged else "workload.rate"
    attempts = requests * (1 + scenario.clients.retries.max)
    servers = [c.max_servers for c in scenario.clusters]
    biggest = max(range(len(servers)), key=lambda i: servers[i])
    server_field = f"clusters.{biggest}.servers"
    probes = 0.0
    if scenario.router.health_check is not None:
        probes = sum(servers) * horizon_s / scenario.router.health_check.interval
    rows = horizon_s / scenario.window
    memory = {
        request_field: attempts * BYTES_PER_ATTEMPT,
        server_field: sum(servers) * BYTES_PER_SERVER,
        "window": rows * BYTES_PER_ROW,
    }
    events = {request_field: attempts * EVENTS_PER_ATTEMPT, server_field: probes}
    return Estimate(
        requests=requests,
        events=sum(events.values()),
        memory_bytes=sum(memory.values()),
        rows=rows,
        drivers={
            "events": max(events, key=lambda k: events[k]),
            "memory_bytes": max(memory, key=lambda k: memory[k]),
            "rows": "window",
        },
    )


def cli_refusal(args: Any) -> list[str]:
    """Why the scenario a verb would run (its parsed arguments) is over the limits; nothing with
    ``--force`` or for a verb without it."""
    if getattr(args, "force", True) or args.verb not in SCENARIO_VERBS:
        return []
    default = scenarios_dir() / "validate-steady.yaml" if args.verb == "validate" else flagship_scenario()
    path = Path(args.scenario) if args.scenario else default
    scenario = load_scenario(path, args.overrides)
    refused = refusal(scenario, path.name)
    if args.verb != "run":
        return refused
    base = load_baseline(path, args.overrides, scenario) if args.baseline else None
    over_total = seeds_refusal(scenario, base, args.seeds, path.name)
    return [*refused[:-1], *over_total] if refused and over_total else refused or over_total


def seeds_refusal(scenario: Scenario, base: Scenario | None, seeds: int, label: str) -> list[str]:
    """Lines saying why ``orchsim run --seeds`` (``seeds`` runs of ``scenario``, and of ``base``, its
    baseline, for each seed) is over ``TOTAL_EVENTS`` in all (empty when it is within)."""
    cost = estimate(scenario)
    per_seed = cost.events + (0.0 if base is None else estimate(base).events)
    total = seeds * per_seed
    if total <= TOTAL_EVENTS:
        return []
    runs = f"{seeds} seeds" if base is None else f"{seeds} seeds x 2, the scenario and its baseline"
    return [
        f"{label}: --seeds {seeds}: {seeds * (1 if base is None else 2)} runs ({runs}) would need ~{total:.3g} "
        f"simulation events in all, over the limit of {TOTAL_EVENTS:.3g} (~{cost.events:.3g} a run, driven by "
        f"{cost.drivers['events']})",
        f"{label}: estimate: {cost.line()} a run; give --force to run it anyway, or fewer --seeds",
    ]


def refusal(scenario: Scenario, label: str) -> list[str]:
    """Lines saying why ``scenario`` is too costly to run (empty when it is within every limit)."""
    cost = estimate(scenario)
    over = [name for name, limit in LIMITS.items() if getattr(cost, name) > limit]
    if not over:
        return []
    names = {"events": "simulation events", "memory_bytes": "bytes of memory", "rows": "time-series rows"}
    lines = [
        f"{label}: {cost.drivers[name]}: the run would need ~{getattr(cost, name):.3g} {names[name]}, "
        f"over the limit of {LIMITS[name]:.3g}"
        for name in over
    ]
    return [*lines, f"{label}: estimate: {cost.line()}; give --force to run it anyway"]


def plan_refusal(runs: list[tuple[str, Scenario]], seeds: int, label: str) -> tuple[str, list[str]]:
    """The estimate of a verb that runs many scenarios (``runs``: what names each one, a grid point or a
    row, and the scenario; each for ``seeds`` seeds) as one line, and the lines saying why it is over the
    limits: its largest run over a run's limits, or all its runs over ``TOTAL_EVENTS`` (none: within)."""
    costs = [(name, estimate(scenario)) for name, scenario in runs]
    count = len(costs) * seeds
    total = seeds * sum(cost.events for _, cost in costs)
    names = {"events": "simulation events", "memory_bytes": "bytes of memory", "rows": "time-series rows"}
    lines = []
    for figure, limit in LIMITS.items():
        name, cost = max(costs, key=lambda named: float(getattr(named[1], figure)))
        if getattr(cost, figure) > limit:
            lines.append(
                f"{label}: {name}: {cost.drivers[figure]}: the run would need ~{getattr(cost, figure):.3g} "
                f"{names[figure]}, over the limit of {limit:.3g}"
            )
    name, largest = max(costs, key=lambda named: named[1].events)
    if total > TOTAL_EVENTS:
        lines.append(
            f"{label}: {count} runs ({len(costs)} x {seeds} seeds) would need ~{total:.3g} simulation events in "
            f"all, over the limit of {TOTAL_EVENTS:.3g}; the largest is {name} (~{largest.events:.3g}, "
            f"driven by {largest.drivers['events']})"
        )
    line = f"{count} runs, ~{total:.3g} events in all; the largest, {name}: {largest.line()}"
    return line, [*lines, f"{label}: estimate: {line}; give --force to run it anyway"] if lines else []
