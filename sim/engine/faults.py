"""Fault injectors: SimPy processes that change server, cluster or router state during their window.

Faults on the same target compose: a server is down while any crash holds it, slowdown factors
multiply, error rates and health-check flaps act as independent failures, partitions nest, and
router_saturation factors multiply. A drain is permanent: it retires servers one by one over its
window and they stay retired.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

from sim.engine.cluster import Cluster
from sim.engine.kernel import Attempt, Gauge, Kernel
from sim.engine.router import Router
from sim.engine.server import Server
from sim.rng import stream
from sim.scenario import Cluster as ClusterSpec
from sim.scenario import Fault

__all__ = ["fault_servers", "start_faults", "target_indices"]

Finish = Callable[[Attempt, int], None]
PER_REQUEST = ("error_rate", "healthcheck_flap", "partition")  # they act on every server of the target


def target_indices(fault: Fault, specs: list[ClusterSpec], seed: int, number: int) -> tuple[int, list[int]]:
    """(cluster index, server indices) hit by fault ``number``: one server, a whole cluster, or
    ``fraction`` of it drawn from the fault's own stream (the mock service uses the same choice)."""
    name, _, index = fault.target.partition("/")
    position = [c.name for c in specs].index(name)
    spec = specs[position]
    if index:
        return position, [int(index)]
    if fault.kind in PER_REQUEST:
        return position, list(range(spec.max_servers))
    count = max(1, math.ceil(fault.fraction * spec.servers - 1e-9))  # not the autoscaler's spare room
    order = stream(seed, "fault-targets", number).permutation(spec.servers)
    chosen = order[:count] if fault.kind == "drain" else sorted(order[:count])
    return position, [int(i) for i in chosen]


def fault_servers(fault: Fault, clusters: list[Cluster], seed: int, number: int) -> list[Server]:
    """Servers hit by ``fault`` (none for the router)."""
    if fault.target == "router":
        return []
    position, indices = target_indices(fault, [c.spec for c in clusters], seed, number)
    return [clusters[position].servers[i] for i in indices]


def start_faults(
    kernel: Kernel,
    faults: list[Fault],
    clusters: list[Cluster],
    router: Router,
    seed: int,
    healthy: Gauge,
    finish: Finish,
) -> None:
    """Start one SimPy process per fault.

    Call before arrivals are scheduled: a fault's start event is created first, so a fault and an
    arrival at the same instant apply in that order.
    """
    for number, fault in enumerate(faults):
        servers = fault_servers(fault, clusters, seed, number)
        begin = kernel.env.timeout(fault.at)
        if fault.kind == "drain":
            kernel.env.process(_drain(kernel, fault, begin, servers))
        else:
            effect = _Effect(kernel, fault, servers, router, healthy, finish)
            kernel.env.process(_window(kernel, fault, begin, effect))


def _window(kernel: Kernel, fault: Fault, begin: Any, effect: _Effect) -> Generator[Any, Any, None]:
    yield begin
    effect.apply()
    yield kernel.env.timeout(fault.end_s - fault.at)
    effect.lift()


def _drain(kernel: Kernel, fault: Fault, begin: Any, servers: list[Server]) -> Generator[Any, Any, None]:
    """Retire the servers one by one, evenly over the window: the first at its start, the last at its end."""
    yield begin
    step_s = (fault.end_s - fault.at) / max(1, len(servers) - 1)
    for k, server in enumerate(servers):
        yield kernel.env.timeout(step_s if k else 0.0)
        server.drained = True
        server.cluster.refresh_routable()


class _Effect:
    """What one windowed fault does when it starts and undoes when it ends."""

    def __init__(
        self, kernel: Kernel, fault: Fault, servers: list[Server], router: Router, healthy: Gauge, finish: Finish
    ) -> None:
        self.kernel, self.fault, self.servers = kernel, fault, servers
        self.router, self.healthy, self.finish = router, healthy, finish

    def apply(self) -> None:
        kind, servers = self.fault.kind, self.servers
        if kind == "crash":
            self._crash()
        elif kind == "slowdown":
            for server in servers:
                server.slowdowns.append(self.fault.factor)
                server.slow_factor = math.prod(server.slowdowns)
        elif kind == "error_rate":
            for server in servers:
                server.error_fractions.append((self.fault.fraction, self.fault.error_latency))
        elif kind == "healthcheck_flap":
            for server in servers:
                server.flap_fractions.append(self.fault.fraction)
        elif kind == "partition":
            servers[0].cluster.partitioned += 1
        else:
            self.router.saturate(self.fault.factor, active=True)

    def lift(self) -> None:
        kind, servers = self.fault.kind, self.servers
        if kind == "crash":
            for server in servers:
                server.recover()
                if server.up:
                    self.healthy.add(1, self.kernel.now)
            _refresh(servers)
        elif kind == "slowdown":  # recomputed from the slowdowns still in force, not divided back
            for server in servers:
                server.slowdowns.remove(self.fault.factor)
                server.slow_factor = math.prod(server.slowdowns)
        elif kind == "error_rate":
            for server in servers:
                server.error_fractions.remove((self.fault.fraction, self.fault.error_latency))
        elif kind == "healthcheck_flap":
            for server in servers:
                server.flap_fractions.remove(self.fault.fraction)
        elif kind == "partition":
            servers[0].cluster.partitioned -= 1
        else:
            self.router.saturate(self.fault.factor, active=False)

    def _crash(self) -> None:
        lost: list[Attempt] = []
        for server in self.servers:
            was_up = server.up
            lost.extend(server.crash())
            if was_up:
                self.healthy.add(-1, self.kernel.now)
        _refresh(self.servers)
        code = 500 if self.fault.in_flight == "fail" else 0  # 0: nobody is told; clients time out
        for attempt in lost:
            self.finish(attempt, code)


def _refresh(servers: list[Server]) -> None:
    for cluster in {id(s.cluster): s.cluster for s in servers}.values():
        cluster.refresh_routable()
