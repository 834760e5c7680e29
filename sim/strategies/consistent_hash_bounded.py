"""Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018) on session keys."""

from __future__ import annotations

import bisect
import math
import zlib
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from sim.rng import Draws
from sim.strategies.base import RequestView, ServerView, StrategyBase, StrategyParams, position_of, register


class ConsistentHashParams(StrategyParams):
    epsilon: float = Field(default=0.25, gt=0, description="load bound: ceil((1 + epsilon) x average)")
    vnodes: int = Field(default=64, ge=1, description="points per server on the ring")


def _hash(key: bytes) -> int:
    return zlib.crc32(key)


@register
class ConsistentHashBounded(StrategyBase):
    name = "consistent_hash_bounded"
    description = "session affinity on a hash ring; a server over ceil((1+eps) x average) passes it on"
    Params = ConsistentHashParams

    def __init__(self, params: Any, servers: Sequence[ServerView], draws: Draws) -> None:
        super().__init__(params, servers, draws)
        points = sorted((_hash(f"{s.index}:{v}".encode()), s.index) for s in servers for v in range(params.vnodes))
        self.ring_keys = [key for key, _ in points]
        self.ring_servers = [index for _, index in points]

    def choose(self, servers: Sequence[ServerView], request: RequestView, draws: Draws) -> int:
        total = sum(s.in_flight for s in servers)
        bound = math.ceil((1.0 + self.params.epsilon) * (total + 1) / len(servers))
        start = bisect.bisect(self.ring_keys, _hash(request.session.to_bytes(8, "little", signed=True)))
        size = len(self.ring_keys)
        for step in range(size):
            position = position_of(servers, self.ring_servers[(start + step) % size])
            if position is not None and servers[position].in_flight < bound:
                return position
        return 0  # unreachable: the bound always leaves room on some routable server
