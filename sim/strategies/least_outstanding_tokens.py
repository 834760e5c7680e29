"""Least outstanding tokens: the server holding the fewest prompt + answer tokens."""

from __future__ import annotations

from collections.abc import Sequence

from sim.rng import Draws
from sim.strategies.base import RequestView, ServerView, StrategyBase, register
from sim.strategies.least_connections import least


@register
class LeastOutstandingTokens(StrategyBase):
    name = "least_outstanding_tokens"
    description = "fewest prompt + answer tokens queued + in service: a long reasoning request counts as many chats"

    def choose(self, servers: Sequence[ServerView], request: RequestView, draws: Draws) -> int:
        return least([float(s.tokens_in_flight) for s in servers], draws)
