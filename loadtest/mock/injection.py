"""Fault injections of the mock service: what ``POST /admin/faults`` takes, and a scenario's faults as
a plan of injections at scaled times (played by the mock itself, or by the load generator).

Pure data: no asyncio, no aiohttp, so the gevent load generator can import it.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

from sim.engine.faults import target_indices
from sim.faults import KINDS as FAULT_KINDS
from sim.inputs.safe_input import MAX_TIME_S
from sim.scenario import Scenario

__all__ = [
    "FaultError",
    "Injection",
    "monotonic_instant",
    "parse_injection",
    "planned_injections",
]

IN_FLIGHT = ("fail", "lost")


class FaultError(ValueError):
    """A bad injection: the message names the field at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message, self.field = message, field


@dataclass(frozen=True)
class Injection:
    """One fault started now, lifted after ``duration_s`` real seconds (0: never; a drain is permanent).

    ``value`` is the slowdown factor, the share of requests (error_rate) or probes (healthcheck_flap)
    hit, or the share of router capacity kept (router_saturation). ``server`` None: every server
    of ``cluster``. ``in_flight`` (crash): requests held fail with 500 at once, or are ``lost``.
    ``at_monotonic_s``: start at this ``time.monotonic()`` instant instead of now (the clock every
    process of this machine shares), so a load generator can post a fault ahead of its time and
    have it start exactly when due, whatever the post's own latency. ``error_latency_s`` (error_rate):
    real seconds a failed request holds its slot before its 500 (a scenario's ``error_latency`` divided
    by the time scale; 0, the default of a runtime injection: at once).
    """

    kind: str
    cluster: str | None = None
    server: int | None = None
    value: float = 1.0
    duration_s: float = 0.0
    in_flight: str = "fail"
    at_monotonic_s: float | None = None
    error_latency_s: float = 0.0

    @property
    def on_router(self) -> bool:
        """True for a kind the router plays itself (router_saturation), not a backend."""
        return FAULT_KINDS[self.kind].targets_router

    def payload(self) -> dict[str, Any]:
        """The JSON body of ``POST /admin/faults`` for this injection."""
        return asdict(self)

    def delay_s(self) -> float:
        """Real seconds from now until it starts."""
        return 0.0 if self.at_monotonic_s is None else max(0.0, self.at_monotonic_s - time.monotonic())


FIELDS = tuple(field.name for field in fields(Injection))  # what a POST /admin/faults body may hold


def parse_injection(body: Any) -> Injection:
    """Check a ``POST /admin/faults`` body; FaultError names the field at fault."""
    if not isinstance(body, dict):
        raise FaultError("body must be a JSON object", "body")
    unknown = sorted(set(body) - {*FIELDS})
    if unknown:
        raise FaultError(f"unknown field {unknown[0]!r}", unknown[0])
    kind = body.get("kind")
    if kind not in FAULT_KINDS:  # sim.faults' table ("unavailable", 503 for everything, is the mock's own)
        raise FaultError(f"kind must be one of {', '.join(FAULT_KINDS)} (got {kind!r})", "kind")
    value = _number(body, "value", 1.0)
    duration_s = _number(body, "duration_s", 0.0)
    _check_value(kind, value)
    if not 0 <= duration_s <= MAX_TIME_S:
        raise FaultError(f"duration_s must be in [0, {MAX_TIME_S:g}] (got {duration_s:g})", "duration_s")
    if FAULT_KINDS[kind].permanent and duration_s > 0:
        raise FaultError(f"duration_s must be 0 for {kind}: a drained server stays retired", "duration_s")
    server = body.get("server")
    if server is not None and (not isinstance(server, int) or isinstance(server, bool) or server < 0):
        raise FaultError(f"server must be a server index >= 0 or null (got {server!r})", "server")
    cluster = body.get("cluster")
    if cluster is not None and not isinstance(cluster, str):
        raise FaultError(f"cluster must be a cluster name (got {cluster!r})", "cluster")
    in_flight = body.get("in_flight", "fail")
    if in_flight not in IN_FLIGHT:
        raise FaultError(f"in_flight must be fail or lost (got {in_flight!r})", "in_flight")
    at = monotonic_instant(body, "at_monotonic_s")
    error_latency_s = _number(body, "error_latency_s", 0.0)
    if not 0 <= error_latency_s <= MAX_TIME_S:
        raise FaultError(f"error_latency_s must be in [0, {MAX_TIME_S:g}] (got {error_latency_s:g})", "error_latency_s")
    return Injection(kind, cluster, server, value, duration_s, in_flight, at, error_latency_s)


def monotonic_instant(body: dict[str, Any], name: str) -> float | None:
    """``body[name]``: an instant on the machine's ``time.monotonic()`` clock, or None when absent;
    FaultError naming the field when it is not a finite number."""
    at = body.get(name)
    if at is not None and (not isinstance(at, (int, float)) or isinstance(at, bool) or not math.isfinite(at)):
        raise FaultError(f"{name} must be a number of seconds or null (got {at!r})", name)
    return None if at is None else float(at)


def _number(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FaultError(f"{name} must be a finite number (got {value!r})", name)
    return float(value)


def _check_value(kind: str, value: float) -> None:
    problem = FAULT_KINDS[kind].value_problem(value)
    if problem:
        raise FaultError(problem, "value")


def planned_injections(scenario: Scenario, seed: int, time_scale: float) -> list[tuple[float, Injection]]:
    """The scenario's faults as (real seconds from the start, injection), on the servers the simulator
    picks for ``seed``. A drain becomes one permanent injection per server, evenly over its window
    (the first at its start, the last at its end), in the simulator's order."""
    plan: list[tuple[float, Injection]] = []
    clusters = list(scenario.clusters)
    for number, fault in enumerate(scenario.faults):
        start_s, span_s = fault.at / time_scale, (fault.end_s - fault.at) / time_scale
        kind = FAULT_KINDS[fault.kind]
        value = fault.factor if kind.value_field == "factor" else fault.fraction
        if kind.targets_router:
            plan.append((start_s, Injection(fault.kind, value=value, duration_s=span_s)))
            continue
        position, indices = target_indices(fault, clusters, seed, number)
        name, servers = clusters[position].name, clusters[position].servers
        indices = [i for i in indices if i < servers]  # not the autoscaler's spare room
        if kind.permanent:  # a drain: one permanent injection per server, evenly over its window
            step_s = span_s / max(1, len(indices) - 1)
            plan += [(start_s + k * step_s, Injection(fault.kind, name, i)) for k, i in enumerate(indices)]
            continue
        latency_s = fault.error_latency / time_scale if fault.kind == "error_rate" else 0.0  # its field only
        plan += [
            (start_s, Injection(fault.kind, name, i, value, span_s, fault.in_flight, error_latency_s=latency_s))
            for i in indices
        ]
    return plan
