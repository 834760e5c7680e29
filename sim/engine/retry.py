"""Client retry arithmetic: backoff with jitter, and a Finagle-style retry budget."""

from __future__ import annotations

from collections import deque

from sim.rng import Draws
from sim.scenario import RetryBudget, RetryPolicy

__all__ = ["Budget", "backoff_s"]


def backoff_s(policy: RetryPolicy, retry: int, previous_s: float, draws: Draws) -> float:
    """Delay before retry number ``retry`` (1 = first retry), in seconds.

    ``previous_s`` is the delay before the previous retry (decorrelated jitter grows from it).
    Jitter formulas follow the AWS Architecture Blog, "Exponential Backoff and Jitter" (2015).
    """
    if policy.backoff == "none":
        return 0.0
    if policy.jitter == "decorrelated":
        low = policy.base
        high = max(low, 3.0 * (previous_s if previous_s > 0 else policy.base))
        return min(policy.cap, low + draws.uniform() * (high - low))
    delay = policy.base if policy.backoff == "constant" else min(policy.cap, policy.base * 2.0 ** (retry - 1))
    if policy.jitter == "full":
        return draws.uniform() * delay
    if policy.jitter == "equal":
        return delay / 2.0 + draws.uniform() * delay / 2.0
    return delay


class Budget:
    """Retries allowed while retries in the last ``ttl`` <= ratio x requests + min_per_s x ttl."""

    __slots__ = ("_requests", "_retries", "_spec")

    def __init__(self, spec: RetryBudget) -> None:
        self._spec = spec
        self._requests: deque[float] = deque()
        self._retries: deque[float] = deque()

    def deposit(self, now_s: float) -> None:
        """A first attempt was sent at ``now_s``."""
        self._requests.append(now_s)

    def withdraw(self, now_s: float) -> bool:
        """True, and counted, if one more retry fits the budget at ``now_s``."""
        horizon = now_s - self._spec.ttl
        for times in (self._requests, self._retries):
            while times and times[0] <= horizon:
                times.popleft()
        allowed = self._spec.ratio * len(self._requests) + self._spec.min_per_s * self._spec.ttl
        if len(self._retries) + 1 > allowed:
            return False
        self._retries.append(now_s)
        return True
