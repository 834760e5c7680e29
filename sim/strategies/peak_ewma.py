"""Peak EWMA (Finagle, Linkerd): latency EWMA that jumps to peaks, times (pending + 1), over P2C."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from sim.inputs.units import parse_duration_s
from sim.rng import Draws
from sim.strategies.base import RequestView, ServerView, StrategyBase, StrategyParams, register
from sim.strategies.power_of_two import two_distinct

Seconds = Annotated[float, BeforeValidator(parse_duration_s), Field(gt=0)]


class PeakEwmaParams(StrategyParams):
    decay: Seconds = Field(default=10.0, description="time constant of the moving average, seconds")
    default_latency: Seconds = Field(default=1.0, description="latency assumed before the first answer")


@register
class PeakEwma(StrategyBase):
    name = "peak_ewma"
    description = "P2C on latency EWMA x (in flight + 1); the EWMA jumps up to peaks (param decay)"
    Params = PeakEwmaParams

    def __init__(self, params: Any, servers: Sequence[ServerView], draws: Draws) -> None:
        super().__init__(params, servers, draws)
        self.ewma_s: list[float] = [params.default_latency] * len(servers)
        self.stamp_s = [0.0] * len(servers)

    def cost(self, server: ServerView) -> float:
        """Expected latency of one more request on ``server``."""
        cost: float = self.ewma_s[server.index] * (server.in_flight + 1)
        return cost

    def choose(self, servers: Sequence[ServerView], request: RequestView, draws: Draws) -> int:
        if len(servers) == 1:
            return 0
        first, second = two_distinct(len(servers), draws)
        return second if self.cost(servers[second]) < self.cost(servers[first]) else first

    def on_complete(self, server: ServerView, request: RequestView, now_s: float) -> None:
        """Fold the latency the router saw for ``request`` into ``server``'s average."""
        i = server.index
        latency_s = now_s - request.sent_s
        if latency_s > self.ewma_s[i]:
            self.ewma_s[i] = latency_s
        else:
            weight = math.exp(-(now_s - self.stamp_s[i]) / self.params.decay)
            self.ewma_s[i] = self.ewma_s[i] * weight + latency_s * (1.0 - weight)
        self.stamp_s[i] = now_s
