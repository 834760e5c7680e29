"""The routing (orchestration) layer: finite capacity, per-request overhead, cluster choice."""

from __future__ import annotations

from collections.abc import Callable

from sim.control.capacity import RouterSlots
from sim.control.cluster_choice import CLUSTER_CHOICES, choose_cluster
from sim.control.routing import is_remote
from sim.engine.cluster import Cluster
from sim.engine.kernel import Attempt, Kernel
from sim.rng import Draws
from sim.scenario import Router as RouterSpec

__all__ = ["Router"]


class Router(RouterSlots):
    """Holds a slot per attempt from arrival to answer (or client give-up); full -> 503. Its slots,
    and how router_saturation faults cut them, are the control plane's ``RouterSlots``."""

    def __init__(
        self,
        kernel: Kernel,
        spec: RouterSpec,
        candidates: list[list[Cluster]],
        regions: tuple[str | None, ...],
        draws: Draws,
        finish: Callable[[Attempt, int], None],
    ) -> None:
        super().__init__(None if spec.concurrency is None else spec.instances * spec.concurrency)
        self.kernel = kernel
        self.overhead_s = spec.overhead
        self.choice = CLUSTER_CHOICES[spec.cluster_strategy]
        self.spill = spec.spill_threshold
        self.remote_s = spec.cross_region_latency
        self.candidates = candidates  # per request class, the clusters able to serve it
        self.regions = regions  # per request class, where its users are
        self.draws = draws
        self._finish = finish
        # the common case, chosen once: no capacity, no overhead, one cluster per class, nothing remote
        direct = (
            self.base_capacity is None
            and self.overhead_s <= 0
            and all(len(clusters) == 1 for clusters in candidates)
            and (not self.remote_s or all(region is None for region in regions))
        )
        if direct:
            self.clusters = [clusters[0] for clusters in candidates]
            self.submit = self._submit_direct  # type: ignore[method-assign]
            # one cluster for every class: it takes the attempt itself (no slot to hold: no capacity)
            routed = self.clusters[0].routed_submit() if len(set(self.clusters)) == 1 else None
            if routed is not None:
                self.submit = routed  # type: ignore[method-assign,assignment]

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

    def _submit_direct(self, attempt: Attempt) -> None:
        """``submit`` when nothing can refuse, delay or divert ``attempt``: straight to its class's cluster."""
        self.in_flight += 1
        attempt.in_router = True
        self.clusters[attempt.klass].submit(attempt)

    def release(self, attempt: Attempt) -> None:
        """Free the router slot of ``attempt`` (its client has its answer or gave up)."""
        if attempt.in_router:
            attempt.in_router = False
            self.in_flight -= 1

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
        if len(clusters) == 1:  # the hot path's shortcut: what choose_cluster answers for one candidate
            cluster: Cluster | None = clusters[0]
        else:
            cluster = choose_cluster(self.choice, clusters, self.regions[attempt.klass], self.draws, self.spill)
        if self.remote_s and cluster is not None and is_remote(cluster.spec.region, self.regions[attempt.klass]):
            self.kernel.call_later(self.remote_s, self._arrive_remote, (cluster, attempt))
            return
        if cluster is None:
            self._finish(attempt, 503)
        else:
            cluster.submit(attempt)
