"""Join the shortest queue: fewest requests in flight, ties broken at random."""

from __future__ import annotations

from collections.abc import Sequence

from sim.rng import Draws
from sim.strategies.base import ServerView, register


@register
class LeastConnections:
    name = "least_connections"
    description = "fewest requests in flight (queued + in service), random tie-break"
    central = False

    def choose(self, servers: Sequence[ServerView], draws: Draws) -> int:
        best = min(s.in_flight for s in servers)
        ties = [i for i, s in enumerate(servers) if s.in_flight == best]
        return ties[0] if len(ties) == 1 else ties[draws.index(len(ties))]
