"""The whole scenario, its cross-field checks, and its JSON Schema."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, model_validator

from sim.scenario.base import Duration, PositiveDuration, ScenarioModel
from sim.scenario.clients import Clients
from sim.scenario.cluster import Cluster
from sim.scenario.faults import Fault
from sim.scenario.router import Router
from sim.scenario.workload import Workload
from sim.strategies import strategy_problems

__all__ = ["Scenario", "Slo", "json_schema"]


class Slo(ScenarioModel):
    """Service-level objective used for goodput, uptime and recovery."""

    latency: PositiveDuration | None = Field(default=None, description="goodput counts successes within this")
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
    workload: Workload
    clusters: list[Cluster] = Field(min_length=1)
    router: Router = Field(default_factory=Router)
    clients: Clients = Field(default_factory=Clients)
    faults: list[Fault] = Field(default_factory=list)
    slo: Slo = Field(default_factory=Slo)

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        if self.warmup >= self.duration:
            raise ValueError(f"warmup must be shorter than duration (got {self.warmup:g}s >= {self.duration:g}s)")
        names = [c.name for c in self.clusters]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"cluster names must be unique (repeated: {', '.join(dupes)})")
        for i, fault in enumerate(self.faults):
            _check_target(self, i, fault)
        for i, cluster in enumerate(self.clusters):
            _check_strategy(self, i, cluster)
        served = {m for c in self.clusters if c.models is not None for m in c.models}
        serves_all = any(c.models is None for c in self.clusters)
        for i, klass in enumerate(self.workload.classes):
            if klass.model is not None and not serves_all and klass.model not in served:
                raise ValueError(f"workload.classes.{i}.model: no cluster serves model {klass.model!r}")
        if not math.isfinite(self.duration + self.drain):
            raise ValueError("duration and drain must be finite")
        return self

    @property
    def total_slots(self) -> int:
        """Configured slots over every cluster."""
        return sum(c.servers * c.slots for c in self.clusters)

    def cluster_index(self, name: str) -> int:
        """Index of the cluster called ``name``."""
        return [c.name for c in self.clusters].index(name)


def _check_strategy(scenario: Scenario, i: int, cluster: Cluster) -> None:
    if cluster.strategy is None:
        name, params, where = scenario.router.strategy, scenario.router.params, "router.params"
    else:
        name, params, where = cluster.strategy, cluster.params or {}, f"clusters.{i}.params"
    problems = strategy_problems(name, params, cluster.servers)
    if problems:
        raise ValueError(f"{where}.{problems[0]}")


def _check_target(scenario: Scenario, i: int, fault: Fault) -> None:
    if fault.kind == "router_saturation":
        if scenario.router.concurrency is None:
            raise ValueError(f"faults.{i}: router_saturation needs a finite router.concurrency to cut")
        return
    if fault.kind == "healthcheck_flap" and scenario.router.health_check is None:
        raise ValueError(f"faults.{i}: healthcheck_flap needs router.health_check")
    cluster, _, index = fault.target.partition("/")
    names = [c.name for c in scenario.clusters]
    if cluster not in names:
        raise ValueError(f"faults.{i}.target: no cluster named {cluster!r} (known: {', '.join(names)})")
    if index:
        servers = scenario.clusters[names.index(cluster)].servers
        if not index.isdigit() or int(index) >= servers:
            raise ValueError(f"faults.{i}.target: server index must be 0..{servers - 1} (got {index!r})")


def json_schema() -> dict[str, Any]:
    """JSON Schema of scenario files (as loaded, before defaults)."""
    schema = Scenario.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "orchsim scenario"
    return schema
