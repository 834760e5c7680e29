"""The whole scenario, its cross-field checks, and its JSON Schema."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from sim.clock import DEFAULT_START, Clock, parse_timezone
from sim.control.routing import strategy_spec
from sim.faults import KINDS
from sim.inputs.datafiles import read_trace
from sim.scenario.base import Duration, PositiveDuration, ScenarioModel
from sim.scenario.clients import Clients
from sim.scenario.cluster import Cluster
from sim.scenario.faults import Fault
from sim.scenario.monitoring import Monitoring
from sim.scenario.reference import Reference
from sim.scenario.router import Router
from sim.scenario.workload import Workload
from sim.strategies import strategy_problems

__all__ = ["Scenario", "Slo", "json_schema"]


class Slo(ScenarioModel):
    """Service-level objective used for goodput, uptime and recovery."""

    latency: PositiveDuration | None = Field(default=None, description="goodput counts successes within this")
    ttft: PositiveDuration | None = Field(default=None, description="goodput: time to first token at most this")
    itl: PositiveDuration | None = Field(default=None, description="goodput: mean inter-token latency at most this")
    availability: float = Field(default=0.99, gt=0, le=1, description="a window is 'up' at or above this")
    recovery: PositiveDuration = Field(default=1800.0, description="time after a trigger to count as recovered")


class Scenario(ScenarioModel):
    """A whole scenario: traffic, clusters, router, clients, faults."""

    name: str = "scenario"
    description: str = ""
    duration: PositiveDuration
    warmup: Duration = 0.0
    drain: Duration = Field(default=300.0, description="simulated time after duration for in-flight work")
    window: PositiveDuration = Field(default=60.0, description="time-series window")
    seed: int = Field(default=1, ge=0)
    start: dt.datetime = Field(
        default=DEFAULT_START,
        description="clock time of t = 0, ISO-8601 with its zone (2026-02-04T00:00:00+00:00); default midnight UTC",
    )
    timezone: str | None = Field(
        default=None,
        description="zone that printed times, reports and plots use (IANA name such as Europe/Paris, UTC, GMT, "
        "or +02:00); null = the zone of start; orchsim's --tz overrides it",
    )
    workload: Workload
    clusters: list[Cluster] = Field(min_length=1)
    router: Router = Field(default_factory=Router)
    clients: Clients = Field(default_factory=Clients)
    faults: list[Fault] = Field(default_factory=list)
    slo: Slo = Field(default_factory=Slo)
    baseline: list[str] = Field(
        default_factory=list,
        description="PATH=VALUE overrides giving the same scenario without its trigger: "
        "orchsim run simulates both and prints them side by side",
    )
    monitoring: Monitoring = Field(default_factory=Monitoring)
    reference: Reference | None = Field(
        default=None, description="what a public account reported of the incident: printed beside the simulation"
    )

    @field_validator("start")
    @classmethod
    def _aware_start(cls, start: dt.datetime) -> dt.datetime:
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("must carry a time zone, e.g. 2026-02-04T00:00:00+00:00 or 2026-02-04T00:00:00Z")
        return start

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str | None) -> str | None:
        if name is not None:
            parse_timezone(name)
        return name

    def clock(self, tz: str | None = None) -> Clock:
        """Clock time of this scenario's instants, shown in ``tz``, else ``timezone``, else start's zone."""
        name = tz if tz is not None else self.timezone
        return Clock(self.start, None if name is None else parse_timezone(name))

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        """Checks across fields; every problem is one ``path: message`` line."""
        problems = []
        if self.warmup >= self.duration:
            problems.append(f"warmup: must be shorter than duration (got {self.warmup:g}s >= {self.duration:g}s)")
        names = [c.name for c in self.clusters]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            problems.append(f"clusters: names must be unique (repeated: {', '.join(dupes)})")
        for i, fault in enumerate(self.faults):
            problems += _fault_problems(self, i, fault)
        for i, cluster in enumerate(self.clusters):
            problems += _strategy_problems(self, i, cluster)
        central = self.router.strategy == "central_queue" or any(c.strategy == "central_queue" for c in self.clusters)
        if self.router.queue_limit is not None and not central:
            problems.append("router.queue_limit: only with the central_queue strategy (servers have queue_limit)")
        problems += _model_problems(self)
        for i, cluster in enumerate(self.clusters):
            strategy = cluster.strategy or self.router.strategy
            if cluster.service.kind == "llm" and strategy == "central_queue":
                problems.append(f"clusters.{i}.service.kind: llm servers keep their own queue (not central_queue)")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def total_slots(self) -> int:
        """Configured slots over every cluster."""
        return sum(c.servers * c.slots for c in self.clusters)


def _model_problems(scenario: Scenario) -> list[str]:
    """Every class, migration and trace row asks for a model some cluster serves."""
    clusters = scenario.clusters
    served = {m for c in clusters if c.models is not None for m in c.models}
    serves_all = any(c.models is None for c in clusters)

    def unserved(model: str | None) -> bool:
        return model is not None and not serves_all and model not in served

    workload = scenario.workload
    problems = [
        f"workload.classes.{i}.model: no cluster serves model {k.model!r}"
        for i, k in enumerate(workload.classes)
        if unserved(k.model)
    ]
    for i, migration in enumerate(workload.migrations):
        for field in ("from_model", "to_model"):
            if unserved(getattr(migration, field)):
                problems.append(
                    f"workload.migrations.{i}.{field}: no cluster serves model {getattr(migration, field)!r}"
                )
    names = {k.name for k in workload.classes}
    for i, cluster in enumerate(clusters):
        for name in sorted(set(cluster.classes or ()) - names):
            problems.append(f"clusters.{i}.classes: no request class named {name!r}")
    if workload.trace is not None:
        problems += _trace_problems(workload.trace.file, names, unserved)
    return problems


def _trace_problems(file: str, class_names: set[str], unserved: Callable[[str | None], bool]) -> list[str]:
    unknown = sorted({key for key in read_trace(Path(file)).key if key not in class_names and unserved(key)})
    return [
        f"workload.trace.file: {Path(file).name}: {key!r} is neither a request class nor a served model"
        for key in unknown
    ]


def _strategy_problems(scenario: Scenario, i: int, cluster: Cluster) -> list[str]:
    if cluster.strategy is None and cluster.params is not None:
        return [f"clusters.{i}.params: only with clusters.{i}.strategy (the router's strategy takes router.params)"]
    name, params, where = strategy_spec(scenario.router, cluster)
    where = where if cluster.strategy is None else f"clusters.{i}.{where}"
    return [f"{where}.{problem}" for problem in strategy_problems(name, params, cluster.max_servers)]


def _fault_problems(scenario: Scenario, i: int, fault: Fault) -> list[str]:
    kind = KINDS[fault.kind]
    problem = kind.scenario_problem(scenario)
    if problem or kind.targets_router:
        return [f"faults.{i}: {problem}"] if problem else []
    cluster, _, index = fault.target.partition("/")
    names = [c.name for c in scenario.clusters]
    if cluster not in names:
        return [f"faults.{i}.target: no cluster named {cluster!r} (known: {', '.join(names)})"]
    servers = scenario.clusters[names.index(cluster)].servers
    if index and (not index.isdigit() or int(index) >= servers):
        return [f"faults.{i}.target: server index must be 0..{servers - 1} (got {index!r})"]
    if index and kind.whole_cluster:
        return [f"faults.{i}.target: a {fault.kind} targets a whole cluster (got {fault.target!r})"]
    return []


def json_schema() -> dict[str, Any]:
    """JSON Schema of scenario files (as loaded, before defaults)."""
    schema = Scenario.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "orchsim scenario"
    return schema
