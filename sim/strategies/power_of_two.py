"""Power of two choices: sample two servers, take the less loaded."""

from __future__ import annotations

from collections.abc import Sequence

from sim.rng import Draws
from sim.strategies.base import ServerView, register


@register
class PowerOfTwo:
    name = "power_of_two"
    description = "two distinct random servers, the one with fewer in flight (JSQ(2))"
    central = False

    def choose(self, servers: Sequence[ServerView], draws: Draws) -> int:
        n = len(servers)
        if n == 1:
            return 0
        first = draws.index(n)
        second = draws.index(n - 1)
        second += second >= first
        return second if servers[second].in_flight < servers[first].in_flight else first
