"""Least outstanding work: the server holding the fewest work units (queued + in service)."""

from __future__ import annotations

from collections.abc import Sequence

from sim.rng import Draws
from sim.strategies.base import RequestView, ServerView, StrategyBase, register
from sim.strategies.least_connections import least


@register
class LeastOutstandingWork(StrategyBase):
    name = "least_outstanding_work"
    description = "fewest work units queued + in service (class work multipliers), not request count"

    def choose(self, servers: Sequence[ServerView], request: RequestView, draws: Draws) -> int:
        return least([s.work_in_flight for s in servers], draws)
