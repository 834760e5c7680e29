"""HAProxy's ``balance first``: the first server in order with a free slot; none free -> the router's queue."""

from __future__ import annotations

from collections.abc import Sequence

from sim.rng import Draws
from sim.strategies.base import RequestView, ServerView, StrategyBase, register


@register
class First(StrategyBase):
    name = "first"
    description = "the lowest-numbered server with a free slot, else the router's FCFS queue (HAProxy first)"
    central = True

    def choose(self, servers: Sequence[ServerView], request: RequestView, draws: Draws) -> int:
        """The server of lowest index below its slots, or -1: every one is full, so the request waits."""
        best = -1
        for position, server in enumerate(servers):
            if server.busy < server.slots and (best < 0 or server.index < servers[best].index):
                best = position
        return best
