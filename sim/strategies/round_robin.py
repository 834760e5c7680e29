"""Servers in turn."""

from __future__ import annotations

from collections.abc import Sequence

from sim.rng import Draws
from sim.strategies.base import ServerView, register


@register
class RoundRobin:
    name = "round_robin"
    description = "servers in turn, blind to their load"
    central = False

    def __init__(self) -> None:
        self._next = 0

    def choose(self, servers: Sequence[ServerView], draws: Draws) -> int:
        position = self._next % len(servers)
        self._next = position + 1
        return position
