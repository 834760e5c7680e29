"""One FCFS queue at the router feeding any free slot (M/M/c with exponential service)."""

from __future__ import annotations

from collections.abc import Sequence

from sim.rng import Draws
from sim.strategies.base import ServerView, register


@register
class CentralQueue:
    name = "central_queue"
    description = "one FCFS queue at the router, handed to any free slot (exactly M/M/c)"
    central = True

    def choose(self, servers: Sequence[ServerView], draws: Draws) -> int:
        """Among servers with a free slot, the least busy (the cluster only asks when one is free)."""
        best = min(range(len(servers)), key=lambda i: servers[i].busy / servers[i].slots)
        return best
