"""Fault injectors: SimPy processes that change server state during their window.

Faults on the same target compose: a server is down while any crash holds it, slowdown factors
multiply, and error rates act as independent failures (each active one may fail a request).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

from sim.engine.cluster import Cluster
from sim.engine.kernel import Attempt, Gauge, Kernel
from sim.engine.server import Server
from sim.rng import stream
from sim.scenario import Fault

__all__ = ["fault_servers", "start_faults"]


def fault_servers(fault: Fault, clusters: list[Cluster], seed: int, number: int) -> list[Server]:
    """Servers hit by ``fault``: one server, or ``fraction`` of a cluster chosen by its own stream."""
    name, _, index = fault.target.partition("/")
    cluster = next(c for c in clusters if c.spec.name == name)
    if index:
        return [cluster.servers[int(index)]]
    if fault.kind == "error_rate":
        return list(cluster.servers)
    count = max(1, math.ceil(fault.fraction * len(cluster.servers) - 1e-9))
    order = stream(seed, "fault-targets", number).permutation(len(cluster.servers))
    return [cluster.servers[i] for i in sorted(order[:count])]


def start_faults(
    kernel: Kernel,
    faults: list[Fault],
    clusters: list[Cluster],
    seed: int,
    healthy: Gauge,
    finish: Callable[[Attempt, int], None],
) -> None:
    """Start one SimPy process per fault.

    Call before arrivals are scheduled: a fault's start event is created first, so a fault and an
    arrival at the same instant apply in that order.
    """
    for number, fault in enumerate(faults):
        servers = fault_servers(fault, clusters, seed, number)
        begin = kernel.env.timeout(fault.at)
        kernel.env.process(_run(kernel, fault, begin, servers, healthy, finish))


def _run(
    kernel: Kernel,
    fault: Fault,
    begin: Any,
    servers: list[Server],
    healthy: Gauge,
    finish: Callable[[Attempt, int], None],
) -> Generator[Any, Any, None]:
    yield begin
    _apply(kernel, fault, servers, healthy, finish)
    yield kernel.env.timeout(fault.end_s - fault.at)
    _lift(kernel, fault, servers, healthy)


def _apply(
    kernel: Kernel, fault: Fault, servers: list[Server], healthy: Gauge, finish: Callable[[Attempt, int], None]
) -> None:
    if fault.kind == "crash":
        lost: list[Attempt] = []
        for server in servers:
            was_up = server.up
            lost.extend(server.crash())
            if was_up:
                healthy.add(-1, kernel.now)
        _refresh(servers)
        for attempt in lost:
            finish(attempt, 500)  # connection reset: the client sees an error at once
    elif fault.kind == "slowdown":
        for server in servers:
            server.slow_factor *= fault.factor
    else:
        for server in servers:
            server.error_fractions.append((fault.fraction, fault.error_latency))


def _lift(kernel: Kernel, fault: Fault, servers: list[Server], healthy: Gauge) -> None:
    if fault.kind == "crash":
        for server in servers:
            server.recover()
            if server.up:
                healthy.add(1, kernel.now)
        _refresh(servers)
    elif fault.kind == "slowdown":
        for server in servers:
            server.slow_factor /= fault.factor
    else:
        for server in servers:
            server.error_fractions.remove((fault.fraction, fault.error_latency))


def _refresh(servers: list[Server]) -> None:
    for cluster in {id(s.cluster): s.cluster for s in servers}.values():
        cluster.refresh_routable()
