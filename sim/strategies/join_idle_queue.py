"""Join-Idle-Queue (Lu et al. 2011): idle servers announce themselves to one of several dispatchers."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from pydantic import Field

from sim.rng import Draws
from sim.strategies.base import RequestView, ServerView, StrategyBase, StrategyParams, position_of, register


class JoinIdleQueueParams(StrategyParams):
    dispatchers: int = Field(default=2, ge=1, description="dispatchers, each with its own idle queue")


@register
class JoinIdleQueue(StrategyBase):
    name = "join_idle_queue"
    description = "a random dispatcher sends to a server that announced idleness to it, else at random"
    Params = JoinIdleQueueParams

    def __init__(self, params: Any, servers: Sequence[ServerView], draws: Draws) -> None:
        super().__init__(params, servers, draws)
        self.idle: list[deque[int]] = [deque() for _ in range(params.dispatchers)]
        self.listed = [True] * len(servers)
        for server in servers:  # every server starts idle, spread over the dispatchers
            self.idle[server.index % params.dispatchers].append(server.index)

    def choose(self, servers: Sequence[ServerView], request: RequestView, draws: Draws) -> int:
        idle = self.idle[draws.index(len(self.idle))]
        while idle:
            index = idle.popleft()
            self.listed[index] = False
            position = position_of(servers, index)
            if position is not None:
                return position
        return draws.index(len(servers))

    def on_complete(self, server: ServerView, request: RequestView, now_s: float) -> None:
        """An idle server joins the idle queue of a random dispatcher (once)."""
        if server.in_flight == 0 and not self.listed[server.index]:
            self.listed[server.index] = True
            self.idle[self.draws.index(len(self.idle))].append(server.index)
