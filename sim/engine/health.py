"""Detection in the simulated routing layer: when to probe and when an ejection ends (simulated time).

What a probe result or an error answer decides is the control plane's (``sim.control.health``,
``sim.control.outlier``), shared with the mock router; this module only schedules it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from sim.control.faults import flapped
from sim.control.health import HealthPolicy, probe_wait_s
from sim.control.outlier import OutlierEjection
from sim.engine.kernel import Kernel
from sim.engine.server import Server, ServerPool
from sim.rng import Draws
from sim.scenario import HealthCheck
from sim.scenario import OutlierEjection as OutlierEjectionSpec

__all__ = ["HealthChecker", "outlier_ejection"]


class HealthChecker:
    """Probes every server of a cluster each interval; consecutive results flip the router's view.

    A probe fails when the server is down, its cluster is partitioned, a healthcheck_flap fault
    drops it, or the server is so loaded that the probe would wait behind its queue for longer
    than the probe timeout (so overload itself can get servers ejected: a health-check cascade).
    """

    def __init__(self, kernel: Kernel, cluster: ServerPool, spec: HealthCheck, draws: Draws) -> None:
        self.kernel = kernel
        self.cluster = cluster
        self.policy = HealthPolicy(spec)
        self.draws = draws
        self.mean_service_s = cluster.spec.service.mean

    def process(self) -> Generator[Any, Any, None]:
        """SimPy process: probe, count, and refresh routing when a server changes state."""
        record = self.policy.record
        while True:
            yield self.kernel.env.timeout(self.policy.interval_s)
            changed = [record(server, self.probe(server)) for server in self.cluster.servers]
            if any(changed):
                self.cluster.refresh_routable()

    def probe(self, server: Server) -> bool:
        """One probe of ``server`` now: True when it answers healthy in time."""
        if server.down_count or self.cluster.partitioned:
            return False
        if flapped(server.flap_fractions, self.draws):
            return False
        if server.busy < server.slots:
            return True
        slowest = server.factors[server.slots] if server.factors is not None else 1.0
        wait_s = probe_wait_s(server.queued, server.slots, self.mean_service_s, server.slow_factor, slowest)
        return self.policy.answers_in_time(wait_s)


def outlier_ejection(kernel: Kernel, cluster: ServerPool, spec: OutlierEjectionSpec) -> OutlierEjection[Server]:
    """The cluster's outlier ejection, its ejections ended in simulated time; routing is refreshed
    whenever a server is ejected or returns."""

    def eject(server: Server, hold_s: float) -> None:
        kernel.call_later(hold_s, restore, server)
        cluster.refresh_routable()

    def restore(server: Server) -> None:
        ejection.restore(server)
        cluster.refresh_routable()

    ejection: OutlierEjection[Server] = OutlierEjection(spec, len(cluster.servers), eject)
    return ejection
