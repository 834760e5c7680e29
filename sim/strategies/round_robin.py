"""Servers in turn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sim.rng import Draws
from sim.strategies.base import RequestView, ServerView, StrategyBase, register


@register
class RoundRobin(StrategyBase):
    name = "round_robin"
    description = "servers in turn, blind to their load"

    def __init__(self, params: Any, servers: Sequence[ServerView], draws: Draws) -> None:
        super().__init__(params, servers, draws)
        self._next = 0

    def choose(self, servers: Sequence[ServerView], request: RequestView, draws: Draws) -> int:
        position = self._next % len(servers)
        self._next = position + 1
        return position
