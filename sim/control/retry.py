"""Retry decisions: the clients' backoff with jitter, retry budget and throttles, and the router's own retries."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from sim.rng import Uniform

if TYPE_CHECKING:  # scenario models for types only: the control plane stands below the scenario
    from sim.scenario import AdaptiveThrottling, RetryBudget, RetryPolicy, RetryThrottle
    from sim.scenario import RouterRetries as RouterRetriesSpec

__all__ = ["AdaptiveThrottle", "Budget", "RouterRetries", "TokenBucket", "backoff_s", "router_retries"]


def backoff_s(policy: RetryPolicy, retry: int, previous_s: float, draws: Uniform) -> float:
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


class TokenBucket:
    """gRPC retry throttling: retries only while tokens > max_tokens / 2."""

    __slots__ = ("_spec", "tokens")

    def __init__(self, spec: RetryThrottle) -> None:
        self._spec = spec
        self.tokens = spec.max_tokens

    def record(self, success: bool) -> None:
        """An attempt ended: a success refills token_ratio, a failure costs one token."""
        if success:
            self.tokens = min(self._spec.max_tokens, self.tokens + self._spec.token_ratio)
        else:
            self.tokens = max(0.0, self.tokens - 1.0)

    def allows_retry(self) -> bool:
        """True while more than half of the bucket is left."""
        return self.tokens > self._spec.max_tokens / 2


class AdaptiveThrottle:
    """Client-side adaptive throttling: refuse locally with p = max(0, (requests - k accepts)/(requests + 1)).

    Requests are attempts the client wanted to send in the window; accepts are those the backend
    accepted (any answer but an overload one: 429, 503, 504).
    """

    __slots__ = ("_accepts", "_draws", "_requests", "_spec")

    def __init__(self, spec: AdaptiveThrottling, draws: Uniform) -> None:
        self._spec = spec
        self._draws = draws
        self._requests: deque[float] = deque()
        self._accepts: deque[float] = deque()

    def refuses(self, now_s: float) -> bool:
        """Count an attempt at ``now_s``; True if the client drops it locally."""
        horizon = now_s - self._spec.window
        for times in (self._requests, self._accepts):
            while times and times[0] <= horizon:
                times.popleft()
        requests = len(self._requests)
        self._requests.append(now_s)
        p = max(0.0, (requests - self._spec.k * len(self._accepts)) / (requests + 1))
        return p > 0 and self._draws.uniform() < p

    def record(self, now_s: float, code: int) -> None:
        """The backend answered ``code`` at ``now_s``."""
        if code not in (429, 503, 504):
            self._accepts.append(now_s)


class RouterRetries:
    """The routing layer retries a failed try itself, up to ``max`` times, on the codes in ``on``
    (the client sees only the last try)."""

    __slots__ = ("max", "on")

    def __init__(self, spec: RouterRetriesSpec) -> None:
        self.max = spec.max
        self.on = frozenset(spec.on)

    def retries(self, code: int, hop: int) -> bool:
        """Whether a try that ended with ``code`` after ``hop`` router retries is tried again."""
        return hop < self.max and code in self.on


def router_retries(spec: RouterRetriesSpec | None) -> RouterRetries | None:
    """The router's retry rule, or None when it makes none."""
    return None if spec is None or spec.max == 0 else RouterRetries(spec)
