"""Uniformly random server."""

from __future__ import annotations

from collections.abc import Sequence

from sim.rng import Draws
from sim.strategies.base import RequestView, ServerView, StrategyBase, register


@register
class RandomChoice(StrategyBase):
    name = "random"
    description = "uniformly random server; each server is an M/M/1 queue under Poisson load"

    def choose(self, servers: Sequence[ServerView], request: RequestView, draws: Draws) -> int:
        return draws.index(len(servers))
