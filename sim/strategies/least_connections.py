"""Join the shortest queue: fewest requests in flight, ties broken at random."""

from __future__ import annotations

from collections.abc import Sequence

from sim.rng import Draws
from sim.strategies.base import RequestView, ServerView, StrategyBase, register


def least(values: list[float], draws: Draws) -> int:
    """Position of the smallest value, ties broken uniformly at random."""
    best = min(values)
    ties = [i for i, v in enumerate(values) if v == best]
    return ties[0] if len(ties) == 1 else ties[draws.index(len(ties))]


@register
class LeastConnections(StrategyBase):
    name = "least_connections"
    description = "fewest requests in flight (queued + in service), random tie-break"

    def choose(self, servers: Sequence[ServerView], request: RequestView, draws: Draws) -> int:
        return least([s.in_flight for s in servers], draws)
