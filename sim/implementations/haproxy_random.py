"""HAProxy ``balance random(<draws>)``: the least loaded of ``draws`` servers drawn with replacement.

HAProxy draws each server from its consistent-hash ring independently, so two draws may return the same
server (then there is nothing to compare: with n servers one choice in n behaves like random(1)); it
compares the connections each has (being served plus queued), and keeps the later draw on a tie.
The ring's uneven shares (16 points per weight unit) are not modelled: each draw is uniform.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from sim.rng import Draws
from sim.strategies import RequestView, ServerView

__all__ = ["HaproxyRandom"]


class HaproxyRandom:
    """The least loaded of ``draws`` independent uniform draws (later draw wins ties)."""

    name: ClassVar[str] = "power_of_two"
    description: ClassVar[str] = "HAProxy random(draws): draws with replacement"
    central: ClassVar[bool] = False

    def __init__(self, draws: int) -> None:
        self.draws = draws

    def choose(self, servers: Sequence[ServerView], request: RequestView, draws: Draws) -> int:
        best = draws.index(len(servers))
        for _ in range(self.draws - 1):
            other = draws.index(len(servers))
            if servers[other].in_flight <= servers[best].in_flight:
                best = other
        return best
