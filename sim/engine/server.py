"""A server: ``slots`` concurrent requests, a FCFS waiting room, fault state."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Container, Sequence
from typing import Protocol

from sim.control.faults import error_latency_s
from sim.control.outlier import OutlierEjection
from sim.control.shedding import Codel, lowest_priority_victim
from sim.engine.attempt import SERVER_OVER, Attempt, Finish
from sim.engine.kernel import Kernel
from sim.rng import Draws
from sim.scenario import Cluster as ClusterSpec
from sim.workload.service import ServiceTimes

__all__ = ["Server", "ServerOwner", "ServerPool"]


class ServerOwner(Protocol):
    """The cluster a server belongs to, as the server (and a fault acting on it) sees it.

    ``sim.engine.cluster.Cluster`` is one; a server never imports it (the engine's modules stand in
    layers, ``tests/test_layout.py``).
    """

    spec: ClusterSpec  # the server reads its service and CoDel settings
    finish: Finish  # the server side of an attempt is over with a code (0: dropped, nobody told)
    central_queued: int  # attempts waiting in the cluster's central queue: a freed slot pulls from it
    partitioned: int  # partition faults in force (a fault reaches its cluster through a server)

    def reject(self, attempt: Attempt, code: int) -> None:
        """Answer ``attempt`` at once with an error ``code``."""

    def pop_central(self) -> Attempt | None:
        """Next live attempt of the central queue, if any."""

    def refresh_routable(self) -> None:
        """Recompute the servers the router sends to (after a change of health, ejection or drain)."""


class ServerPool(ServerOwner, Protocol):
    """A cluster as the processes acting on all of its servers see it: health checks, outlier
    ejection, the autoscaler."""

    @property
    def servers(self) -> Sequence[Server]:
        """Every server of the cluster, the autoscaler's spare room included."""


class Server:
    """One server of a cluster. Strategies read: index, slots, busy, queued, in_flight, work_in_flight,
    tokens_in_flight, prefix_sessions."""

    __slots__ = (
        "_complete_call",
        "busy",
        "central",
        "cluster",
        "codel",
        "consecutive_5xx",
        "down_count",
        "drained",
        "ejected",
        "ejections",
        "error_fractions",
        "factors",
        "fault_draws",
        "finish",
        "flap_fractions",
        "global_index",
        "in_flight",
        "index",
        "kernel",
        "observe",
        "outlier",
        "prefix_sessions",
        "probe_failures",
        "probe_successes",
        "probed_healthy",
        "provisioned",
        "queue",
        "queue_limit",
        "queued",
        "running",
        "service",
        "slots",
        "slow_factor",
        "slowdowns",
        "tokens_in_flight",
        "work_in_flight",
    )

    def __init__(
        self,
        kernel: Kernel,
        cluster: ServerOwner,
        index: int,
        global_index: int,
        slots: int,
        queue_limit: int | None,
        service: ServiceTimes,
        fault_draws: Draws,
    ) -> None:
        self.kernel = kernel
        self.cluster = cluster
        self.index = index
        self.global_index = global_index
        self.slots = slots
        self.queue_limit = queue_limit
        self.busy = 0
        self.queued = 0
        self.in_flight = 0
        self.work_in_flight = 0.0  # work units (class work) of the attempts it holds
        self.tokens_in_flight = 0  # prompt + answer tokens of the attempts it holds
        self.observe: Callable[[Server, Attempt, float], None] | None = None  # the strategy's on_complete
        # its cluster queues centrally (set by the cluster): a freed slot asks the cluster's central queue
        # too; without one, ``cluster.central_queued`` stays 0 and the server need not read it
        self.central = False
        self.queue: deque[Attempt] = deque()
        self.running: dict[Attempt, None] = {}
        self.service = service
        self.factors = cluster.spec.service.factors(slots)  # service-time factor by concurrency, or None
        self.fault_draws = fault_draws
        self.down_count = 0
        self.slow_factor = 1.0  # the product of ``slowdowns``, recomputed whenever one starts or ends
        self.slowdowns: list[float] = []  # factors of the slowdown faults in force
        self.error_fractions: list[tuple[float, float]] = []  # (fraction, error latency s)
        self.flap_fractions: list[float] = []  # healthcheck_flap faults: share of probes dropped
        self.probed_healthy = True  # the router's view from active health checks
        self.probe_failures = 0
        self.probe_successes = 0
        self.consecutive_5xx = 0
        self.ejected = False
        self.ejections = 0
        self.drained = False  # a drain fault retired it: no new requests
        self.provisioned = True  # False: an autoscaling slot not in service
        self.outlier: OutlierEjection[Server] | None = None
        self.prefix_sessions: Container[int] = ()  # sessions whose prompt prefix it has cached (llm)
        self.codel = None if cluster.spec.codel is None else Codel(cluster.spec.codel)
        self.finish = cluster.finish
        # bound once: ``self._complete`` would make a bound method object at every service start
        self._complete_call: Callable[[Attempt], None] = self._complete

    @property
    def up(self) -> bool:
        """True unless a crash fault holds this server down."""
        return self.down_count == 0

    def accept(self, attempt: Attempt) -> None:
        """Start ``attempt`` on a free slot, queue it, or refuse it with 503 when the queue is full."""
        if self.down_count:
            self._refuse(attempt)  # connection refused: the router has not noticed the crash yet
        elif self.busy < self.slots:  # start it (``start``, one call less on the hot path)
            self.in_flight += 1
            self.work_in_flight += attempt.work
            self.tokens_in_flight += attempt.tokens
            self._serve(attempt)
        elif self.queue_limit is not None and self.queued >= self.queue_limit:
            self._full(attempt)
        else:
            attempt.server = self
            attempt.enqueued_s = self.kernel.now
            self.queue.append(attempt)
            self.queued += 1
            self.in_flight += 1
            self.work_in_flight += attempt.work
            self.tokens_in_flight += attempt.tokens

    def _full(self, attempt: Attempt) -> None:
        """Waiting room full: evict a lower-priority queued request for ``attempt``, or refuse it."""
        victim = lowest_priority_victim(self.queue, attempt.priority)
        if victim is None:
            self._refuse(attempt)
            return
        self.queue.remove(victim)
        self._unqueue(victim)
        attempt.server = self
        attempt.enqueued_s = self.kernel.now
        self.queue.append(attempt)
        self._enqueued(attempt)
        self._refuse(victim)  # last: a router retry of the victim must find the room full again

    def _enqueued(self, attempt: Attempt) -> None:
        self.queued += 1
        self.in_flight += 1
        self.work_in_flight += attempt.work
        self.tokens_in_flight += attempt.tokens

    def _unqueue(self, attempt: Attempt) -> None:
        self.queued -= 1
        self.in_flight -= 1
        self.work_in_flight -= attempt.work
        self.tokens_in_flight -= attempt.tokens

    def _refuse(self, attempt: Attempt) -> None:
        """Answer 503 at once (waiting room full, or server down); the record names this server."""
        attempt.server = self
        self.cluster.reject(attempt, 503)
        if self.outlier is not None:
            self.outlier.observe(self, 503)

    def start(self, attempt: Attempt) -> None:
        """Begin service of ``attempt`` on a free slot."""
        self.in_flight += 1
        self.work_in_flight += attempt.work
        self.tokens_in_flight += attempt.tokens
        self._serve(attempt)

    def _serve(self, attempt: Attempt) -> None:
        """Take a slot for ``attempt`` (already counted in flight) and schedule its answer."""
        busy = self.busy = self.busy + 1
        self.running[attempt] = None
        now = attempt.start_s = self.kernel.now
        attempt.server = self
        if self.error_fractions and self._fails(attempt):
            self.kernel.call_at(now + attempt.outcome_delay_s, self._complete_call, attempt)
            return
        attempt.outcome = 200
        u = attempt.service_u
        delay_s = (self.service.next_s() if u < 0.0 else self.service.at_s(u)) * attempt.work * self.slow_factor
        if self.factors is not None:
            delay_s *= self.factors[busy]
        self.kernel.call_at(now + delay_s, self._complete_call, attempt)

    def _fails(self, attempt: Attempt) -> bool:
        """Draw whether an active error-rate fault answers ``attempt`` with a quick 500."""
        latency_s = error_latency_s(self.error_fractions, self.fault_draws)
        if latency_s is None:
            return False
        attempt.outcome = 500
        attempt.outcome_delay_s = latency_s
        return True

    def _complete(self, attempt: Attempt) -> None:
        if attempt.server is not self or attempt.state in SERVER_OVER:
            return  # aborted by a crash or a cancellation while in service
        del self.running[attempt]
        self.busy -= 1
        self.in_flight -= 1
        self.work_in_flight -= attempt.work
        self.tokens_in_flight -= attempt.tokens
        self.finish(attempt, attempt.outcome)
        if self.outlier is not None:
            self.outlier.observe(self, attempt.outcome)
        if self.queue or (self.central and self.cluster.central_queued):
            self.pull()
        if self.observe is not None:
            self.observe(self, attempt, self.kernel.now)

    def _answered(self, attempt: Attempt, code: int) -> None:
        """The server side of ``attempt`` ends with ``code``; outlier detection hears of it."""
        self.finish(attempt, code)
        if self.outlier is not None:
            self.outlier.observe(self, code)

    def _release(self, attempt: Attempt) -> None:
        del self.running[attempt]
        self.busy -= 1
        self.in_flight -= 1
        self.work_in_flight -= attempt.work
        self.tokens_in_flight -= attempt.tokens

    def pull(self) -> None:
        """Fill free slots from this server's queue, or from the cluster's central queue."""
        while self.busy < self.slots and self.down_count == 0:
            attempt = self._pop_own() if self.queue else None
            if attempt is not None:
                self._serve(attempt)
                continue
            attempt = self.cluster.pop_central()
            if attempt is None:
                return
            self.start(attempt)

    def _pop_own(self) -> Attempt | None:
        """The next live attempt of the queue, still counted in flight (CoDel refuses some on the way)."""
        queue = self.queue
        while queue:
            attempt = queue.popleft()
            if attempt.state in SERVER_OVER:
                continue  # dropped while it waited (its client gave up)
            self.queued -= 1  # from the queue to a slot: still in flight, with the same tokens
            work = self.work_in_flight - attempt.work  # a float: taken off and put back, bit for bit
            if self.codel is not None:
                now = self.kernel.now
                if self.codel.drops(now - attempt.enqueued_s, now):
                    self.in_flight -= 1
                    self.work_in_flight = work
                    self.tokens_in_flight -= attempt.tokens
                    self._refuse(attempt)
                    continue
            self.work_in_flight = work + attempt.work
            return attempt
        return None

    def cancel(self, attempt: Attempt) -> None:
        """Drop an abandoned attempt (its server side still under way): its service stopped, or out of the
        queue (it stays there, over, until the queue comes to it and skips it)."""
        if attempt in self.running:
            self._release(attempt)
            self.cluster.finish(attempt, 0)
            self.pull()
        else:
            self._unqueue(attempt)
            self.cluster.finish(attempt, 0)

    def crash(self) -> list[Attempt]:
        """Go down; return every attempt it held (queued or in service), now failed."""
        self.down_count += 1
        if self.down_count > 1:
            return []
        lost = list(self.running)
        for attempt in lost:
            self._release(attempt)
        while self.queue:
            attempt = self.queue.popleft()
            if attempt.state not in SERVER_OVER:  # not dropped while it waited
                self.queued -= 1
                self.in_flight -= 1
                self.work_in_flight -= attempt.work
                self.tokens_in_flight -= attempt.tokens
                lost.append(attempt)
        return lost

    def recover(self) -> None:
        """End one crash; the server takes traffic again once no crash holds it."""
        self.down_count -= 1
        if self.down_count == 0:
            self.pull()
