"""Detection in the routing layer: active health checks and passive outlier ejection."""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from sim.engine.kernel import Kernel
from sim.rng import Draws
from sim.scenario import HealthCheck, OutlierEjection

if TYPE_CHECKING:
    from sim.engine.cluster import Cluster
    from sim.engine.server import Server

__all__ = ["HealthChecker", "OutlierDetector"]


class HealthChecker:
    """Probes every server of a cluster each interval; consecutive results flip the router's view.

    A probe fails when the server is down, its cluster is partitioned, a healthcheck_flap fault
    drops it, or the server is so loaded that the probe would wait behind its queue for longer
    than the probe timeout (so overload itself can get servers ejected: a health-check cascade).
    """

    def __init__(self, kernel: Kernel, cluster: Cluster, spec: HealthCheck, draws: Draws) -> None:
        self.kernel = kernel
        self.cluster = cluster
        self.spec = spec
        self.draws = draws
        self.mean_service_s = cluster.spec.service.mean

    def process(self) -> Generator[Any, Any, None]:
        """SimPy process: probe, count, and refresh routing when a server changes state."""
        while True:
            yield self.kernel.env.timeout(self.spec.interval)
            changed = [self._count(server, self._probe(server)) for server in self.cluster.servers]
            if any(changed):
                self.cluster.refresh_routable()

    def _probe(self, server: Server) -> bool:
        if server.down_count or self.cluster.partitioned:
            return False
        if any(self.draws.uniform() < fraction for fraction in server.flap_fractions):
            return False
        if server.busy < server.slots:
            return True
        slowest = server.factors[server.slots] if server.factors is not None else 1.0
        wait_s = (server.queued + 1) / server.slots * self.mean_service_s * server.slow_factor * slowest
        return wait_s <= self.spec.timeout

    def _count(self, server: Server, ok: bool) -> bool:
        """Record one probe result; True when the server's health flips."""
        if ok:
            server.probe_failures, server.probe_successes = 0, server.probe_successes + 1
            if not server.probed_healthy and server.probe_successes >= self.spec.healthy_threshold:
                server.probed_healthy = True
                return True
        else:
            server.probe_successes, server.probe_failures = 0, server.probe_failures + 1
            if server.probed_healthy and server.probe_failures >= self.spec.unhealthy_threshold:
                server.probed_healthy = False
                return True
        return False


class OutlierDetector:
    """Ejects a server after consecutive 5xx answers, for base_ejection x its number of ejections."""

    def __init__(self, kernel: Kernel, cluster: Cluster, spec: OutlierEjection) -> None:
        self.kernel = kernel
        self.cluster = cluster
        self.spec = spec
        self.max_ejected = max(1, math.floor(spec.max_ejected_fraction * len(cluster.servers)))
        self.ejected = 0

    def observe(self, server: Server, code: int) -> None:
        """The router saw ``server`` answer ``code``."""
        if code < 500:
            server.consecutive_5xx = 0
            return
        server.consecutive_5xx += 1
        threshold_met = server.consecutive_5xx >= self.spec.consecutive_5xx
        if threshold_met and not server.ejected and self.ejected < self.max_ejected:
            self._eject(server)

    def _eject(self, server: Server) -> None:
        server.ejected = True
        server.ejections += 1
        self.ejected += 1
        self.kernel.call_later(self.spec.base_ejection * server.ejections, self._return, server)
        self.cluster.refresh_routable()

    def _return(self, server: Server) -> None:
        server.ejected = False
        server.consecutive_5xx = 0
        self.ejected -= 1
        self.cluster.refresh_routable()
