"""The routing (orchestration) layer: finite capacity, per-request overhead, cluster choice, its own retries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from sim.control.capacity import RouterSlots
from sim.control.cluster_choice import CLUSTER_CHOICES, ClusterLoad, choose_cluster
from sim.control.retry import router_retries
from sim.control.routing import is_remote
from sim.engine.attempt import ABANDONED, DONE, ENDED, ENDED_ROUTED, ROUTED, SENT, Attempt
from sim.engine.kernel import Kernel
from sim.engine.records import AttemptLog
from sim.rng import Draws
from sim.scenario import Router as RouterSpec

__all__ = ["ClientSide", "RoutedCluster", "Router"]


class ClientSide(Protocol):
    """The clients, as the router answers them (``sim.engine.client.Clients`` is one)."""

    def answer(self, attempt: Attempt, code: int) -> None:
        """The client sees ``code`` for ``attempt``."""

    def record(self, attempt: Attempt) -> None:
        """Write the record of ``attempt`` (its client and server are both done with it)."""


class RoutedCluster(ClusterLoad, Protocol):
    """A cluster as the router sees it (``sim.engine.cluster.Cluster`` is one; so are the tests' stand-ins,
    which a compiled router would refuse in place of the class)."""

    def submit(self, attempt: Attempt) -> None:
        """Route ``attempt`` to a server of the cluster."""

    def routed_submit(self) -> Callable[[Attempt], None] | None:
        """What the router may call instead of its own ``submit`` (``Cluster.routed_submit``)."""

    def cancel(self, attempt: Attempt) -> None:
        """The client gave up on ``attempt``: drop the work it still holds."""


class Router(RouterSlots):
    """Holds a slot per attempt from arrival to answer (or client give-up); full -> 503. Its slots,
    and how router_saturation faults cut them, are the control plane's ``RouterSlots``; whether it
    retries a failed try itself (``router.retries``) is ``sim.control.retry``'s ``RouterRetries``.

    Built in three steps, as the model wires it: the router, then its clusters (which answer to
    ``answer``), then ``route_to`` those clusters and ``answer_to`` the clients.
    """

    def __init__(
        self, kernel: Kernel, spec: RouterSpec, regions: tuple[str | None, ...], draws: Draws, log: AttemptLog
    ) -> None:
        super().__init__(None if spec.concurrency is None else spec.instances * spec.concurrency)
        self.kernel = kernel
        self.overhead_s = spec.overhead
        self.choice = CLUSTER_CHOICES[spec.cluster_strategy]
        self.spill = spec.spill_threshold
        self.remote_s = spec.cross_region_latency
        self.regions = regions  # per request class, where its users are
        self.draws = draws
        self.retries = router_retries(spec.retries)
        self.log = log  # the router writes the record of each try it retried (the client never sees one)
        self.clusters: Sequence[RoutedCluster] = []  # by cluster index
        self.candidates: Sequence[Sequence[RoutedCluster]] = []  # per request class, the clusters able to serve it
        # admit and route an attempt: ``admit``, or a shorter path ``route_to`` chooses (an attribute, not a
        # method rebound on the instance, which a compiled class does not allow)
        self.submit: Callable[[Attempt], None] = self.admit

    def route_to(self, clusters: Sequence[RoutedCluster], candidates: Sequence[Sequence[RoutedCluster]]) -> None:
        """Route to ``clusters``: ``candidates`` are, per request class, those able to serve it."""
        self.clusters = clusters
        self.candidates = candidates
        # the common case, chosen once: no capacity, no overhead, one cluster per class, nothing remote
        direct = (
            self.base_capacity is None
            and self.overhead_s <= 0
            and all(len(serving) == 1 for serving in candidates)
            and (not self.remote_s or all(region is None for region in self.regions))
        )
        if direct:
            self.direct = [serving[0] for serving in candidates]
            self.submit = self._submit_direct
            # one cluster for every class: it takes the attempt itself (no slot to hold: no capacity)
            routed = self.clusters[0].routed_submit() if len(self.clusters) == 1 else None
            if routed is not None:
                self.submit = routed

    def answer_to(self, clients: ClientSide) -> None:
        """Hand the answers of the server side to ``clients``."""
        self._answer = clients.answer
        self._record = clients.record

    def admit(self, attempt: Attempt) -> None:
        """Admit ``attempt`` (503 when every router slot is taken) and route it (``submit``'s general path)."""
        if self.capacity is not None and self.in_flight >= self.capacity:
            self._refuse(attempt)
            return
        self.in_flight += 1
        attempt.state = ROUTED
        if self.overhead_s > 0:
            self.kernel.call_later(self.overhead_s, self._dispatch, attempt)
        else:
            self._dispatch(attempt)

    def _submit_direct(self, attempt: Attempt) -> None:
        """``submit`` when nothing can refuse, delay or divert ``attempt``: straight to its class's cluster."""
        self.in_flight += 1
        attempt.state = ROUTED
        self.direct[attempt.klass].submit(attempt)

    def release(self, attempt: Attempt) -> None:
        """Free the router slot of ``attempt``, if it holds one (its client has its answer or gave up)."""
        state = attempt.state
        if state is ENDED_ROUTED:
            attempt.state = ENDED
            self.in_flight -= 1
        elif state is ROUTED:
            attempt.state = SENT
            self.in_flight -= 1

    def cancel(self, attempt: Attempt) -> None:
        """The client gave up on ``attempt``: its cluster drops the work it still holds."""
        if attempt.cluster >= 0:
            self.clusters[attempt.cluster].cancel(attempt)

    def answer(self, attempt: Attempt, code: int) -> None:
        """The server side of ``attempt`` is over with ``code`` (0: dropped, nobody told): retry it here,
        answer its client, or (the client gave up meanwhile) have it recorded."""
        now = attempt.server_end_s = self.kernel.now
        state = attempt.state
        if state is ABANDONED:  # its client gave up meanwhile: both sides are over
            attempt.state = DONE
            self._record(attempt)
            return
        retries = self.retries
        if retries is not None and retries.retries(code, attempt.hop):
            self._retry(attempt, code, now)
            return
        attempt.state = ENDED_ROUTED if state is ROUTED else ENDED
        if code != 0:  # else lost (a crash): the client's timeout answers it
            self._answer(attempt, code)

    def _refuse(self, attempt: Attempt) -> None:
        """503 for want of a router slot: the routing layer's own refusal at its door, which its retries
        (meant for a failed try of a server) never take up; the mock router refuses the same way."""
        attempt.server_end_s = self.kernel.now
        attempt.state = ENDED
        self._answer(attempt, 503)

    def _retry(self, attempt: Attempt, code: int, now_s: float) -> None:
        """Retry a failed try inside the routing layer (the client sees only the last one); the
        attempt keeps its state (under way, with the router slot it holds or without one)."""
        self.log.append_router_try(attempt, code, now_s)
        attempt.hop += 1
        attempt.server, attempt.cluster = None, -1
        attempt.start_s = attempt.server_end_s = attempt.first_token_s = float("nan")
        self._dispatch(attempt)

    def _arrive_remote(self, arg: tuple[RoutedCluster, Attempt]) -> None:
        cluster, attempt = arg
        if attempt.state is ABANDONED:
            self.answer(attempt, 0)
        else:
            cluster.submit(attempt)

    def _dispatch(self, attempt: Attempt) -> None:
        if attempt.state is ABANDONED:  # its client gave up during the overhead
            self.answer(attempt, 0)
            return
        clusters = self.candidates[attempt.klass]
        if len(clusters) == 1:  # the hot path's shortcut: what choose_cluster answers for one candidate
            cluster: RoutedCluster | None = clusters[0]
        else:
            cluster = choose_cluster(self.choice, clusters, self.regions[attempt.klass], self.draws, self.spill)
        if self.remote_s and cluster is not None and is_remote(cluster.spec.region, self.regions[attempt.klass]):
            self.kernel.call_later(self.remote_s, self._arrive_remote, (cluster, attempt))
            return
        if cluster is None:
            self.answer(attempt, 503)
        else:
            cluster.submit(attempt)
