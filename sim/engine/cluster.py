"""A cluster: identical servers, the strategy that picks among them, an optional central queue."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Sequence
from typing import Any

from sim.control.routing import build_strategy, routable
from sim.control.shedding import GradientLimit
from sim.engine.attempt import SERVER_OVER, Attempt, Finish
from sim.engine.autoscale import Autoscaler
from sim.engine.health import HealthChecker, outlier_ejection
from sim.engine.kernel import Gauge, Kernel
from sim.engine.llm_server import LlmServer
from sim.engine.server import Server
from sim.engine.step_server import StepLlmServer
from sim.rng import Draws, Stream, stream
from sim.scenario import Cluster as ClusterSpec
from sim.scenario import Router as RouterSpec
from sim.strategies import ServerView
from sim.workload.service import ServiceTimes

__all__ = ["Cluster", "LoadReport"]


class LoadReport:
    """A server's load as it last reported it: what strategies see when information is stale."""

    __slots__ = (
        "busy",
        "in_flight",
        "index",
        "prefix_sessions",
        "queued",
        "server",
        "slots",
        "tokens_in_flight",
        "work_in_flight",
    )

    def __init__(self, server: Server) -> None:
        self.server = server
        self.index = server.index
        self.slots = server.slots
        self.prefix_sessions = server.prefix_sessions  # the cache itself: routers know where prefixes went
        self.refresh()

    def refresh(self) -> None:
        """Copy the server's current load."""
        server = self.server
        self.busy, self.queued, self.in_flight = server.busy, server.queued, server.in_flight
        self.work_in_flight = server.work_in_flight
        self.tokens_in_flight = server.tokens_in_flight


def _telling(answered: Finish, end: Finish) -> Finish:
    """``end``, after telling the strategy how the attempt ended (before any router retry)."""

    def told(attempt: Attempt, code: int) -> None:
        answered(attempt, code)
        end(attempt, code)

    return told


class Cluster:
    """Servers of one cluster; routes an attempt to one of its routable servers."""

    def __init__(
        self,
        kernel: Kernel,
        spec: ClusterSpec,
        router: RouterSpec,
        index: int,
        first_global: int,
        seed: int,
        answer: Finish,
    ) -> None:
        self.kernel = kernel
        self.spec = spec
        self.index = index
        self.route_draws = Draws(stream(seed, Stream.ROUTING, index))
        self.central_limit = router.queue_limit
        self.central_queue: deque[Attempt] = deque()
        self.central_queued = 0
        self.limiter = None if router.adaptive_concurrency is None else GradientLimit(router.adaptive_concurrency)
        self._answer = answer  # the router's: the server side of an attempt is over with a code
        # the server side of an attempt is over with a code (0: dropped, nobody told); the strategy is
        # not told (a crash's lost attempts): the limiter's bookkeeping, then the router's answer
        self.end: Finish = answer if self.limiter is None else self._end_limited
        self.finish = self.end  # the same, the strategy told first when it listens (below)
        kind = Server if spec.service.kind != "llm" else LlmServer if spec.service.step_s is None else StepLlmServer
        self.servers = [
            kind(
                kernel,
                self,
                i,
                first_global + i,
                spec.slots,
                spec.queue_limit,
                ServiceTimes(spec.service, stream(seed, Stream.SERVICE, index, i)),
                Draws(stream(seed, Stream.FAULTS, index, i)),
            )
            for i in range(spec.max_servers)
        ]
        for server in self.servers[spec.servers :]:
            server.provisioned = False  # room for the autoscaler
        self.strategy = build_strategy(router, spec, self.servers, self.route_draws, lambda: kernel.now)
        self.choose = self.strategy.choose
        self.central = self.strategy.central
        observe = getattr(self.strategy, "on_complete", None)  # the strategy learns from completions
        for server in self.servers:
            server.observe = observe
            server.central = self.central
        # a balancer that finds failed servers itself from the answers (nginx's max_fails): no probes,
        # every server stays routable, and the strategy hears how each attempt ended
        self.passive = bool(getattr(self.strategy, "passive_health", False))
        answered = getattr(self.strategy, "on_answer", None)
        if answered is not None:
            self.finish = _telling(answered, self.end)
            for server in self.servers:
                server.finish = self.finish
        self.autoscaler: Autoscaler | None = None  # set by the model, which owns the healthy gauge
        self.report_interval_s = router.report_interval
        self.reports = [LoadReport(s) for s in self.servers]
        self.routable: list[Server] = self.servers[: spec.servers]
        self.views: Sequence[ServerView] = self._views()
        self.partitioned = 0  # partition faults in force: the router cannot connect
        self.connecting: set[Attempt] = set()  # attempts waiting for the connect timeout of a partition
        self.ejected_count = 0
        self.connect_timeout_s = router.connect_timeout
        self.panic_threshold = router.panic_threshold
        self.gauges: tuple[Gauge, Gauge] | None = None  # (routable, ejected) totals, set by the model
        self.health: HealthChecker | None = None
        if router.health_check is not None and not self.passive:
            self.health = HealthChecker(kernel, self, router.health_check, Draws(stream(seed, Stream.HEALTH, index)))
        if router.outlier_ejection is not None:
            ejection = outlier_ejection(kernel, self, router.outlier_ejection)
            for server in self.servers:
                server.outlier = ejection

    def _views(self) -> Sequence[ServerView]:
        if self.report_interval_s is None:
            return self.routable
        return [self.reports[s.index] for s in self.routable]

    def limiting(self) -> Generator[Any, Any, None]:
        """SimPy process: recompute the adaptive concurrency limit each interval (when configured)."""
        if self.limiter is None:
            return
        interval_s = self.limiter.interval_s
        while True:
            yield self.kernel.env.timeout(interval_s)
            self.limiter.update()

    def reporting(self) -> Generator[Any, Any, None]:
        """SimPy process: every server reports its load each ``report_interval`` (stale mode only)."""
        if self.report_interval_s is None:
            return
        while True:
            yield self.kernel.env.timeout(self.report_interval_s)
            for report in self.reports:
                report.refresh()

    @property
    def routable_slots(self) -> int:
        """Slots of the servers that are up."""
        return sum(s.slots for s in self.routable)

    @property
    def load(self) -> int:
        """Requests in flight in this cluster (queued anywhere or in service)."""
        return sum(s.in_flight for s in self.servers) + self.central_queued

    def submit(self, attempt: Attempt) -> None:
        """Route ``attempt`` to a server (or the central queue); 503 when nothing can take it."""
        attempt.cluster = self.index
        servers = self.routable
        if self.limiter is not None:
            if not self.limiter.admits():
                self.reject(attempt, 503)
                return
            attempt.limited = True
        if not servers:
            self.reject(attempt, 503)
        elif self.partitioned:
            self.connecting.add(attempt)
            self.kernel.call_later(self.connect_timeout_s, self._connect_failed, attempt)
        elif self.central:
            self._submit_central(attempt, servers)
        else:
            position = self.choose(self.views, attempt, self.route_draws)
            if position < 0:
                self.reject(attempt, 503)  # the balancer has no server it may send to (nginx: all failed)
            else:
                servers[position].accept(attempt)

    def routed_submit(self) -> Callable[[Attempt], None] | None:
        """What the router may call instead of its own ``submit`` when it holds no slots and sends every
        attempt here (chosen once, when the model is built): ``submit`` without its limiter test and
        fewer calls on the way from the strategy to the server; None when this cluster limits concurrency."""
        if self.limiter is not None:
            return None
        return self._submit_central_unlimited if self.central else self._submit_unlimited

    def _submit_unlimited(self, attempt: Attempt) -> None:
        """``submit`` without a concurrency limiter nor a central queue."""
        attempt.cluster = self.index
        servers = self.routable
        if not servers or self.partitioned:
            self.submit(attempt)  # refused, or waiting out the partition
            return
        position = self.choose(self.views, attempt, self.route_draws)
        if position < 0:
            self.reject(attempt, 503)  # the balancer has no server it may send to (nginx: all failed)
        else:
            servers[position].accept(attempt)

    def _submit_central_unlimited(self, attempt: Attempt) -> None:
        """``submit`` of a central queue without a concurrency limiter."""
        attempt.cluster = self.index
        servers = self.routable
        if not servers or self.partitioned:
            self.submit(attempt)
        else:
            self._submit_central(attempt, servers)

    def _submit_central(self, attempt: Attempt, servers: list[Server]) -> None:
        # A waiting attempt means no slot is free: every freed slot pulls from this queue first.
        if not self.central_queued:
            position = self.choose(servers, attempt, self.route_draws)
            if position >= 0:
                server = servers[position]
                if server.down_count:
                    attempt.server = server
                    self.reject(attempt, 503)  # connection refused: a crash not yet noticed
                else:
                    server.start(attempt)
                return
        if self.central_limit is not None and self.central_queued >= self.central_limit:
            self.reject(attempt, 503)
        else:
            self.central_queue.append(attempt)
            self.central_queued += 1

    def pop_central(self) -> Attempt | None:
        """Next live attempt of the central queue, if any."""
        while self.central_queue:
            attempt = self.central_queue.popleft()
            if attempt.state in SERVER_OVER:
                continue  # dropped while it waited (its client gave up)
            self.central_queued -= 1
            return attempt
        return None

    def _end_limited(self, attempt: Attempt, code: int) -> None:
        """``end`` under an adaptive concurrency limit: an attempt it counted leaves it, then the router answers."""
        limiter = self.limiter
        if attempt.limited and limiter is not None:
            attempt.limited = False
            limiter.done(self.kernel.now - attempt.sent_s, code == 200)
        self._answer(attempt, code)

    def reject(self, attempt: Attempt, code: int) -> None:
        """Answer ``attempt`` at once with an error ``code``."""
        self.finish(attempt, code)

    def cancel(self, attempt: Attempt) -> None:
        """The client gave up on ``attempt``: drop the work it still holds."""
        if attempt.state in SERVER_OVER:
            return  # its server side is over already
        if attempt.server is not None:
            attempt.server.cancel(attempt)
        elif attempt in self.connecting:  # given up before the connect timeout: it ends here, once
            self.connecting.remove(attempt)
            self.finish(attempt, 0)
        elif attempt.cluster == self.index:  # in the central queue: it is skipped there once over
            self.central_queued -= 1
            self.finish(attempt, 0)

    def _connect_failed(self, attempt: Attempt) -> None:
        if attempt in self.connecting:  # else the client gave up meanwhile and the attempt has ended
            self.connecting.remove(attempt)
            self.reject(attempt, 503)

    def refresh_routable(self) -> None:
        """Recompute the servers the router sends to, after any change of health, ejection or drain.

        Without health checks the router sees crashes at once; with them it sees the probes' verdict.
        Below ``panic_threshold`` of usable servers it routes to every server not drained.
        """
        usable = routable(self.servers, self.health is not None, self.panic_threshold, self.passive)
        ejected_now = sum(s.ejected for s in self.servers)
        if self.gauges is not None:
            routable_gauge, ejected_gauge = self.gauges
            routable_gauge.add(len(usable) - len(self.routable), self.kernel.now)
            ejected_gauge.add(ejected_now - self.ejected_count, self.kernel.now)
        self.ejected_count = ejected_now
        self.routable = usable
        self.views = self._views()
