"""One FCFS queue at the router feeding any free slot (M/M/c with exponential service)."""

from __future__ import annotations

from collections.abc import Sequence

from sim.rng import Draws
from sim.strategies.base import RequestView, ServerView, StrategyBase, register


@register
class CentralQueue(StrategyBase):
    name = "central_queue"
    description = "one FCFS queue at the router, handed to any free slot (exactly M/M/c)"
    central = True

    def choose(self, servers: Sequence[ServerView], request: RequestView, draws: Draws) -> int:
        """The first server with a free slot, or -1: none is free, so the request waits at the router."""
        for position, server in enumerate(servers):
            if server.busy < server.slots:
                return position
        return -1
