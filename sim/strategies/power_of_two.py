"""Power of two choices: sample two servers, take the less loaded."""

from __future__ import annotations

from collections.abc import Sequence

from sim.rng import Draws
from sim.strategies.base import RequestView, ServerView, StrategyBase, register


def two_distinct(n: int, draws: Draws) -> tuple[int, int]:
    """Two distinct positions in ``range(n)`` (n >= 2), uniformly."""
    first = draws.index(n)
    second = draws.index(n - 1)
    return first, second + (second >= first)


@register
class PowerOfTwo(StrategyBase):
    name = "power_of_two"
    description = "two distinct random servers, the one with fewer in flight (JSQ(2))"

    def choose(self, servers: Sequence[ServerView], request: RequestView, draws: Draws) -> int:
        if len(servers) == 1:
            return 0
        first, second = two_distinct(len(servers), draws)
        return second if servers[second].in_flight < servers[first].in_flight else first
