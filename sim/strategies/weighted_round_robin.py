"""Smooth weighted round robin (as in nginx): servers in turn, in proportion to static weights."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from sim.rng import Draws
from sim.strategies.base import RequestView, ServerView, StrategyBase, StrategyParams, register


class WeightedRoundRobinParams(StrategyParams):
    weights: list[float] | None = Field(default=None, description="one positive weight per server; null = equal")


@register
class WeightedRoundRobin(StrategyBase):
    name = "weighted_round_robin"
    description = "servers in turn in proportion to static weights (param weights, one per server)"
    Params = WeightedRoundRobinParams

    @classmethod
    def check(cls, params: Any, n_servers: int) -> None:
        weights = params.weights
        if weights is not None and len(weights) != n_servers:
            raise ValueError(f"weights: needs one weight per server, {n_servers} (got {len(weights)})")
        if weights is not None and min(weights) <= 0:
            raise ValueError(f"weights: must all be greater than 0 (got {min(weights)})")

    def __init__(self, params: Any, servers: Sequence[ServerView], draws: Draws) -> None:
        super().__init__(params, servers, draws)
        self.weights = list(params.weights) if params.weights is not None else [1.0] * len(servers)
        self.current = [0.0] * len(servers)

    def choose(self, servers: Sequence[ServerView], request: RequestView, draws: Draws) -> int:
        best, total = 0, 0.0
        for position, server in enumerate(servers):
            i = server.index
            self.current[i] += self.weights[i]
            total += self.weights[i]
            if self.current[i] > self.current[servers[best].index]:
                best = position
        self.current[servers[best].index] -= total
        return best
