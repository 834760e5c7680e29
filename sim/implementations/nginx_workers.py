"""nginx without a shared ``zone``: each of W worker processes balances only the connections it accepted.

A worker's balancer state (least_conn counters, round-robin turns, random draws, max_fails windows) is
its own (nginx documentation, ngx_http_upstream_module ``zone``: without it the group's configuration
and run-time state are not shared between worker processes); ``nginx_peers`` is that state. Each
request is accepted by one worker, drawn uniformly here; the worker sees, per server, only the requests
it sent there and has not yet seen end, and learns of failures only from its own requests. Like W
routers each with a partial view.

The engine tells ``on_answer`` how every attempt routed here ended; an attempt that ends elsewhere
(its client gave up, or a crash took it) is let go at the next decision, as nginx frees the peer
when either side closes. A router retry of the same attempt stays with its worker and skips the
servers it tried (nginx's ``tried`` bitmap).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from sim.implementations.nginx_peers import NginxPeers, PassiveHealth
from sim.rng import Draws
from sim.strategies import RequestView, ServerView

__all__ = ["NGINX_METHODS", "NginxWorkers"]

NGINX_METHODS = ("round_robin", "weighted_round_robin", "least_connections", "random", "power_of_two")


class _Held:
    """What a worker remembers of an attempt it routed: which worker, the peer it holds, the peers tried."""

    __slots__ = ("index", "tried", "worker")

    def __init__(self, worker: int) -> None:
        self.worker = worker
        self.index = -1  # the server it holds a connection to, -1: none
        self.tried: set[int] = set()


class NginxWorkers:
    """W nginx workers, each with its own peers' state, choosing by nginx's method."""

    name: ClassVar[str] = "nginx"
    description: ClassVar[str] = "nginx's balancing method in each worker process, on that worker's own state"
    central: ClassVar[bool] = False

    def __init__(
        self, method: str, weights: list[int], workers: int, passive: PassiveHealth, clock: Callable[[], float]
    ) -> None:
        self.workers = [NginxPeers(method, weights, passive) for _ in range(workers)]
        self.passive = passive
        self.clock = clock
        self.held: dict[Any, _Held] = {}  # attempt -> what its worker holds for it
        # the cluster neither probes nor hides crashed servers: nginx learns of them from failed requests
        self.passive_health = passive.max_fails > 0

    def _let_go(self, now_s: float) -> None:
        """Free the peers of attempts over without an answer told here (client gone, crash)."""
        over = [(a, h) for a, h in self.held.items() if a.over]
        for attempt, held in over:
            if held.index >= 0:
                self.workers[held.worker].free(held.index, False, now_s)
            del self.held[attempt]

    def choose(self, servers: Sequence[ServerView], request: RequestView, draws: Draws) -> int:
        now_s = self.clock()
        self._let_go(now_s)
        held = self.held.get(request)
        if held is None:
            held = self.held[request] = _Held(draws.index(len(self.workers)) if len(self.workers) > 1 else 0)
        index = self.workers[held.worker].pick([s.index for s in servers], now_s, draws, held.tried)
        if index < 0:
            return -1
        held.index = index
        held.tried.add(index)
        return next(p for p, s in enumerate(servers) if s.index == index)

    def on_answer(self, attempt: Any, code: int) -> None:
        """The server side of ``attempt`` ended with ``code`` (a refused connection when its server is down)."""
        held = self.held.get(attempt)
        if held is None or held.index < 0:
            return
        server = attempt.server
        refused = server is not None and server.down_count > 0 and code == 503
        self.workers[held.worker].free(held.index, self.passive.failed(code, refused), self.clock())
        held.index = -1
