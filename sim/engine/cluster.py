"""A cluster: identical servers, the strategy that picks among them, an optional central queue."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from sim.engine.kernel import Attempt, Kernel
from sim.engine.server import Server
from sim.rng import Draws, stream
from sim.scenario import Cluster as ClusterSpec
from sim.service import ServiceTimes
from sim.strategies import Strategy

__all__ = ["Cluster"]


class Cluster:
    """Servers of one cluster; routes an attempt to one of its routable servers."""

    def __init__(
        self,
        kernel: Kernel,
        spec: ClusterSpec,
        index: int,
        first_global: int,
        strategy: Strategy,
        seed: int,
        class_work: tuple[float, ...],
        finish: Callable[[Attempt, int], None],
        central_limit: int | None,
    ) -> None:
        self.kernel = kernel
        self.spec = spec
        self.index = index
        self.strategy = strategy
        self.class_work = class_work
        self.route_draws = Draws(stream(seed, "routing", index))
        self.central = strategy.central
        self.central_limit = central_limit
        self.central_queue: deque[Attempt] = deque()
        self.central_queued = 0
        self.finish = finish  # server side of an attempt is over with a code (0: dropped, nobody told)
        self.servers = [
            Server(
                kernel,
                self,
                i,
                first_global + i,
                spec.slots,
                spec.queue_limit,
                ServiceTimes(spec.service, stream(seed, "service", index, i)),
                Draws(stream(seed, "faults", index, i)),
            )
            for i in range(spec.servers)
        ]
        self.routable: list[Server] = list(self.servers)

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
        if not servers:
            self.reject(attempt, 503)
        elif self.central:
            self._submit_central(attempt, servers)
        else:
            servers[self.strategy.choose(servers, self.route_draws)].accept(attempt)

    def _submit_central(self, attempt: Attempt, servers: list[Server]) -> None:
        # A waiting attempt means no slot is free: every freed slot pulls from this queue first.
        if not self.central_queued:
            position = self.strategy.choose(servers, self.route_draws)
            if position >= 0:
                servers[position].start(attempt)
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
            if attempt.cancelled:
                continue
            self.central_queued -= 1
            return attempt
        return None

    def reject(self, attempt: Attempt, code: int) -> None:
        """Answer ``attempt`` at once with an error ``code``."""
        self.finish(attempt, code)

    def cancel(self, attempt: Attempt) -> None:
        """The client gave up on ``attempt``: drop the work it still holds."""
        if attempt.server_done:
            return
        if attempt.server is not None:
            attempt.server.cancel(attempt)
        elif not attempt.cancelled and attempt.cluster == self.index:
            attempt.cancelled = True
            self.central_queued -= 1
            self.finish(attempt, 0)

    def refresh_routable(self) -> None:
        """Recompute the servers the router may use (after a crash or recovery)."""
        self.routable = [s for s in self.servers if s.up]
