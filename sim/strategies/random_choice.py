"""Uniformly random server."""

from __future__ import annotations

from collections.abc import Sequence

from sim.rng import Draws
from sim.strategies.base import ServerView, register


@register
class RandomChoice:
    name = "random"
    description = "uniformly random server; each server is an M/M/1 queue under Poisson load"
    central = False

    def choose(self, servers: Sequence[ServerView], draws: Draws) -> int:
        return draws.index(len(servers))
