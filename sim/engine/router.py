"""The routing (orchestration) layer: finite capacity, per-request overhead, cluster choice."""

from __future__ import annotations

import math
from collections.abc import Callable

from sim.engine.cluster import Cluster
from sim.engine.cluster_choice import CLUSTER_CHOICES
from sim.engine.kernel import Attempt, Kernel
from sim.rng import Draws
from sim.scenario import Router as RouterSpec

__all__ = ["Router"]


class Router:
    """Holds a slot per attempt from arrival to answer (or client give-up); full -> 503."""

    def __init__(
        self,
        kernel: Kernel,
        spec: RouterSpec,
        candidates: list[list[Cluster]],
        regions: tuple[str | None, ...],
        draws: Draws,
        finish: Callable[[Attempt, int], None],
    ) -> None:
        self.kernel = kernel
        self.base_capacity = None if spec.concurrency is None else spec.instances * spec.concurrency
        self.capacity = self.base_capacity
        self.capacity_scale = 1.0
        self.saturations: list[float] = []  # factors of the router_saturation faults in force
        self.overhead_s = spec.overhead
        self.choice = CLUSTER_CHOICES[spec.cluster_strategy]
        self.spill = spec.spill_threshold
        self.remote_s = spec.cross_region_latency
        self.candidates = candidates  # per request class, the clusters able to serve it
        self.regions = regions  # per request class, where its users are
        self.draws = draws
        self.in_flight = 0
        self._finish = finish

    def saturate(self, factor: float, active: bool) -> None:
        """A router_saturation fault keeping ``factor`` of capacity starts (``active``) or ends; the
        capacity is recomputed from the faults still in force (never divided back: nothing of a fault
        outlives it, however large or small its factor). Slots held stay held."""
        if active:
            self.saturations.append(factor)
        else:
            self.saturations.remove(factor)
        self.capacity_scale = math.prod(self.saturations)
        if self.base_capacity is not None:
            self.capacity = max(0, math.floor(self.base_capacity * self.capacity_scale + 1e-9))

    def submit(self, attempt: Attempt) -> None:
        """Admit ``attempt`` (503 when every router slot is taken) and route it."""
        if self.capacity is not None and self.in_flight >= self.capacity:
            self._finish(attempt, 503)
            return
        self.in_flight += 1
        attempt.in_router = True
        if self.overhead_s > 0:
            self.kernel.call_later(self.overhead_s, self._after_overhead, attempt)
        else:
            self._dispatch(attempt)

    def release(self, attempt: Attempt) -> None:
        """Free the router slot of ``attempt`` (its client has its answer or gave up)."""
        if attempt.in_router:
            attempt.in_router = False
            self.in_flight -= 1

    def _is_remote(self, cluster: Cluster, attempt: Attempt) -> bool:
        home = self.regions[attempt.klass]
        return home is not None and cluster.spec.region not in (None, home)

    def _arrive_remote(self, arg: tuple[Cluster, Attempt]) -> None:
        cluster, attempt = arg
        if attempt.client_done:
            self._finish(attempt, 0)
        else:
            cluster.submit(attempt)

    def redispatch(self, attempt: Attempt) -> None:
        """Route a retried try again; it keeps the router slot it holds."""
        self._dispatch(attempt)

    def _after_overhead(self, attempt: Attempt) -> None:
        self._dispatch(attempt)

    def _dispatch(self, attempt: Attempt) -> None:
        if attempt.client_done:
            self._finish(attempt, 0)
            return
        clusters = self.candidates[attempt.klass]
        if len(clusters) == 1:
            cluster: Cluster | None = clusters[0]
        else:
            cluster = self.choice(clusters, self.regions[attempt.klass], self.draws, self.spill)
        if self.remote_s and cluster is not None and self._is_remote(cluster, attempt):
            self.kernel.call_later(self.remote_s, self._arrive_remote, (cluster, attempt))
            return
        if cluster is None:
            self._finish(attempt, 503)
        else:
            cluster.submit(attempt)
