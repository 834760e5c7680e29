"""Power of d choices: sample d distinct servers, take the one with fewest in flight."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from sim.rng import Draws
from sim.strategies.base import RequestView, ServerView, StrategyBase, StrategyParams, register


class PowerOfDParams(StrategyParams):
    d: int = Field(default=2, ge=1, description="servers sampled per request")


@register
class PowerOfD(StrategyBase):
    name = "power_of_d"
    description = "d distinct random servers (param d, default 2), the one with fewest in flight"
    Params = PowerOfDParams

    def choose(self, servers: Sequence[ServerView], request: RequestView, draws: Draws) -> int:
        n = len(servers)
        d = min(self.params.d, n)
        picked: list[int] = []
        while len(picked) < d:  # d is small: rejection beats a shuffle
            position = draws.index(n)
            if position not in picked:
                picked.append(position)
        best = picked[0]
        for position in picked[1:]:
            if servers[position].in_flight < servers[best].in_flight:
                best = position
        return best
