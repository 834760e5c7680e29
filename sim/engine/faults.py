"""Fault injectors: one SimPy process per fault, doing what its kind's entry in ``sim.faults`` says.

Faults on the same target compose: a server is down while any crash holds it, slowdown factors
multiply, error rates and health-check flaps act as independent failures, partitions nest, and
router_saturation factors multiply. A drain is permanent: it retires servers one by one over its
window and they stay retired. The kinds, their checks and effects are in ``sim/faults/``.
"""

from __future__ import annotations

import math

from sim.engine.attempt import Attempt
from sim.engine.cluster import Cluster
from sim.engine.kernel import Gauge, Kernel
from sim.engine.router import Router
from sim.engine.server import Server
from sim.faults import KINDS, SimEffect
from sim.rng import Stream, stream
from sim.scenario import Cluster as ClusterSpec
from sim.scenario import Fault

__all__ = ["fault_servers", "start_faults", "target_indices"]


def target_indices(fault: Fault, specs: list[ClusterSpec], seed: int, number: int) -> tuple[int, list[int]]:
    """(cluster index, server indices) hit by fault ``number``: one server, a whole cluster, or
    ``fraction`` of it drawn from the fault's own stream (the mock service uses the same choice)."""
    name, _, index = fault.target.partition("/")
    position = [c.name for c in specs].index(name)
    spec = specs[position]
    if index:
        return position, [int(index)]
    kind = KINDS[fault.kind]
    if kind.every_server:
        return position, list(range(spec.max_servers))
    count = max(1, math.ceil(fault.fraction * spec.servers - 1e-9))  # not the autoscaler's spare room
    order = stream(seed, Stream.FAULT_TARGETS, number).permutation(spec.servers)
    chosen = order[:count] if kind.keeps_draw_order else sorted(order[:count])
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
) -> None:
    """Start one SimPy process per fault.

    Call before arrivals are scheduled: a fault's start event is created first, so a fault and an
    arrival at the same instant apply in that order.
    """

    def lost(attempt: Attempt, code: int) -> None:
        """A crash ended ``attempt``'s server side: its cluster's ``end`` (the strategy is not told)."""
        clusters[attempt.cluster].end(attempt, code)

    for number, fault in enumerate(faults):
        servers = fault_servers(fault, clusters, seed, number)
        begin = kernel.env.timeout(fault.at)
        effect = SimEffect(kernel, fault, servers, router, healthy, lost)
        kernel.env.process(KINDS[fault.kind].sim_process(effect, begin))
