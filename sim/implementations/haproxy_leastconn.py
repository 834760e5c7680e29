"""HAProxy ``balance leastconn``: fewest connections; among equals, the one whose count changed longest ago.

HAProxy keeps servers in a tree keyed by their load; a server whose count changes is taken out and put
back behind the servers already at that key, so equal loads are served in turn ("round-robin is
performed within groups of servers of the same load", HAProxy configuration manual, balance leastconn).
No random draw is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from sim.rng import Draws
from sim.strategies import RequestView, ServerView

__all__ = ["HaproxyLeastconn"]


class HaproxyLeastconn:
    """Least in flight; ties go to the server whose in-flight count changed least recently."""

    name: ClassVar[str] = "least_connections"
    description: ClassVar[str] = "HAProxy leastconn: fewest connections, ties in turn"
    central: ClassVar[bool] = False

    def __init__(self, servers: Sequence[ServerView]) -> None:
        self.changed = [0] * len(servers)  # the tick at which each server's count last changed
        self.ticks = 0

    def _touch(self, index: int) -> None:
        self.ticks += 1
        if index >= len(self.changed):
            self.changed.extend([0] * (index + 1 - len(self.changed)))
        self.changed[index] = self.ticks

    def choose(self, servers: Sequence[ServerView], request: RequestView, draws: Draws) -> int:
        best = min(range(len(servers)), key=lambda p: (servers[p].in_flight, self.changed[servers[p].index], p))
        self._touch(servers[best].index)
        return best

    def on_complete(self, server: ServerView, request: Any, now_s: float) -> None:
        self._touch(server.index)
