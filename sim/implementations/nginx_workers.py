"""nginx without a shared ``zone``: each of W worker processes balances only the connections it accepted.

A worker's balancer state (least_conn counters, round-robin position, random draws) is its own
(nginx documentation, ngx_http_upstream_module ``zone``: without it the group's configuration and
run-time state are not shared between worker processes). Each request is accepted by one worker,
drawn uniformly here; the worker's strategy sees, per server, only the requests it sent there and has
not yet seen answered. Like W routers each with a partial view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from sim.rng import Draws
from sim.strategies import RequestView, ServerView, Strategy

__all__ = ["NginxWorkers"]


@dataclass
class _WorkerView:
    index: int
    slots: int
    busy: int
    queued: int
    in_flight: int
    work_in_flight: float
    tokens_in_flight: int
    prefix_sessions: frozenset[int] = frozenset()


class NginxWorkers:
    """W copies of a strategy, each fed its own in-flight counts."""

    name: ClassVar[str] = "nginx_workers"
    description: ClassVar[str] = "the scenario's strategy in each nginx worker, on that worker's own counts"
    central: ClassVar[bool] = False

    def __init__(self, workers: list[Strategy], servers: Sequence[ServerView]) -> None:
        self.workers = workers
        self.sent: list[list[tuple[Any, int]]] = [[] for _ in workers]  # per worker: (attempt, server index)

    def _counts(self, worker: int) -> dict[int, int]:
        live = [(a, i) for a, i in self.sent[worker] if not (a.server_done or a.client_done)]
        self.sent[worker] = live
        counts: dict[int, int] = {}
        for _, index in live:
            counts[index] = counts.get(index, 0) + 1
        return counts

    def choose(self, servers: Sequence[ServerView], request: RequestView, draws: Draws) -> int:
        worker = draws.index(len(self.workers))
        counts = self._counts(worker)
        views = [_view(s, counts.get(s.index, 0)) for s in servers]
        position = self.workers[worker].choose(views, request, draws)
        self.sent[worker].append((request, servers[position].index))
        return position


def _view(server: ServerView, in_flight: int) -> _WorkerView:
    seen = _WorkerView(server.index, server.slots, server.busy, server.queued, in_flight, 0.0, 0, frozenset())
    return replace(seen, work_in_flight=server.work_in_flight, tokens_in_flight=server.tokens_in_flight)
