"""Autoscaling a cluster: add servers (after a cold start) toward a target utilisation, remove extras."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator
from typing import Any

from sim.engine.kernel import Gauge, Kernel
from sim.engine.server import Server, ServerPool
from sim.scenario import Autoscale

__all__ = ["Autoscaler"]


class Autoscaler:
    """Every interval: desired = ceil(active x (requests in flight / slots) / target), between the
    cluster's initial size and max_servers. New servers join after cold_start. Like Kubernetes'
    HPA, it scales down only to the largest recommendation of the last ``scale_down_window``;
    surplus servers stop taking new requests at once and finish what they hold."""

    def __init__(self, kernel: Kernel, cluster: ServerPool, spec: Autoscale, initial: int, healthy: Gauge) -> None:
        self.kernel = kernel
        self.cluster = cluster
        self.spec = spec
        self.initial = initial
        self.healthy = healthy
        self.pending: set[int] = set()
        self.recommendations: deque[tuple[float, int]] = deque()

    SAMPLES = 10  # utilisation is averaged over this many samples per interval

    def process(self) -> Generator[Any, Any, None]:
        """SimPy process: sample utilisation through each interval, then scale."""
        while True:
            samples = []
            for _ in range(self.SAMPLES):
                yield self.kernel.env.timeout(self.spec.interval / self.SAMPLES)
                samples.append(self._utilisation())
            self._evaluate(sum(samples) / len(samples))

    def _active(self) -> list[Server]:
        return [s for s in self.cluster.servers if s.provisioned and not s.drained]

    def _utilisation(self) -> float:
        active = self._active()
        demand = sum(s.in_flight for s in active) + self.cluster.central_queued
        return demand / max(1, sum(s.slots for s in active))

    def _evaluate(self, utilisation: float) -> None:
        active = self._active()
        desired = math.ceil(len(active) * utilisation / self.spec.target_utilization - 1e-9)
        desired = min(self.spec.max_servers, max(self.initial, desired))
        now = self.kernel.now
        self.recommendations.append((now, desired))
        while self.recommendations[0][0] <= now - self.spec.scale_down_window:
            self.recommendations.popleft()
        if desired > len(active) + len(self.pending):
            self._launch(desired - len(active) - len(self.pending))
            return
        floor = max(d for _, d in self.recommendations)
        if floor < len(active) and not self.pending:
            self._retire(len(active) - floor)

    def _launch(self, count: int) -> None:
        idle = [s for s in self.cluster.servers if not s.provisioned and s.index not in self.pending]
        for server in idle[:count]:
            self.pending.add(server.index)
            self.kernel.call_later(self.spec.cold_start, self._ready, server)

    def _ready(self, server: Server) -> None:
        self.pending.discard(server.index)
        server.provisioned = True
        if server.up:
            self.healthy.add(1, self.kernel.now)
        self.cluster.refresh_routable()
        server.pull()

    def _retire(self, count: int) -> None:
        extras = [s for s in self._active() if s.index >= self.initial][::-1][:count]
        for server in extras:
            server.provisioned = False
            if server.up:
                self.healthy.add(-1, self.kernel.now)
        if extras:
            self.cluster.refresh_routable()
