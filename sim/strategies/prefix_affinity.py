"""Prefix-cache affinity: send a session back to a server that has its prompt prefix cached,
unless that server is busier than the least loaded one by more than ``max_imbalance``."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from sim.rng import Draws
from sim.strategies.base import RequestView, ServerView, StrategyBase, StrategyParams, register
from sim.strategies.least_connections import least


class PrefixAffinityParams(StrategyParams):
    max_imbalance: int = Field(
        default=4, ge=0, description="requests in flight a cache hit may cost over the least loaded server"
    )


@register
class PrefixAffinity(StrategyBase):
    name = "prefix_affinity"
    description = "a server with the session's prefix cached, unless busier than least loaded + max_imbalance"
    Params = PrefixAffinityParams

    def choose(self, servers: Sequence[ServerView], request: RequestView, draws: Draws) -> int:
        loads = [s.in_flight for s in servers]
        fewest = min(loads)
        hits = [i for i, s in enumerate(servers) if request.session in s.prefix_sessions]
        if hits:
            best = min(hits, key=lambda i: loads[i])
            if loads[best] <= fewest + self.params.max_imbalance:
                return best
        return least([float(n) for n in loads], draws)
