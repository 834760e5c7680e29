"""sim/control/retry.py, the clients' side: backoff with each jitter, the retry budget, the gRPC token
bucket and adaptive throttling, with scripted draws and exact times (the router's own retries are in
tests/test_control.py)."""

from __future__ import annotations

from typing import Any, cast

from sim.control.retry import AdaptiveThrottle, Budget, TokenBucket, backoff_s
from sim.rng import Draws
from sim.scenario.clients import AdaptiveThrottling, RetryBudget, RetryPolicy, RetryThrottle
from tests.test_control import Script


def policy(**fields: Any) -> RetryPolicy:
    return RetryPolicy(max=5, **fields)


def test_backoff_without_jitter() -> None:
    never = Script()  # no draw may be taken
    assert backoff_s(policy(backoff="none"), 3, 0.0, never) == 0.0
    assert backoff_s(policy(backoff="constant", base=0.75, jitter="none"), 4, 0.0, never) == 0.75
    exponential = policy(backoff="exponential", base=0.5, cap=1.5, jitter="none")
    # 0.5 x 2^(retry - 1), capped: 0.5, 1.0, 2.0 -> 1.5, 4.0 -> 1.5
    assert [backoff_s(exponential, retry, 0.0, never) for retry in (1, 2, 3, 4)] == [0.5, 1.0, 1.5, 1.5]
    assert never.taken == 0


def test_full_and_equal_jitter_scale_the_delay_by_a_draw() -> None:
    full = policy(backoff="exponential", base=1.0, cap=30, jitter="full")
    draws = Script(0.25, 0.5)
    assert backoff_s(full, 3, 0.0, draws) == 0.25 * 4.0  # a draw x 1 x 2^2
    equal = policy(backoff="constant", base=2.0, jitter="equal")
    assert backoff_s(equal, 1, 0.0, draws) == 2.0 / 2 + 0.5 * 2.0 / 2  # half, plus a draw x half
    assert draws.taken == 2


def test_decorrelated_jitter_grows_from_the_previous_delay_up_to_the_cap() -> None:
    decorrelated = policy(backoff="exponential", base=1.0, cap=10.0, jitter="decorrelated")
    draws = Script(0.5, 0.5, 0.99)
    # between base and 3 x previous (3 x base at first): 1 + 0.5 x (3 - 1) = 2; 1 + 0.5 x (6 - 1) = 3.5;
    # 1 + 0.99 x (12 - 1) = 11.89 -> the cap, 10
    assert backoff_s(decorrelated, 1, 0.0, draws) == 2.0
    assert backoff_s(decorrelated, 2, 2.0, draws) == 3.5
    assert backoff_s(decorrelated, 3, 4.0, draws) == 10.0


def test_the_budget_allows_a_ratio_of_the_requests_in_its_window() -> None:
    budget = Budget(RetryBudget(ratio=0.5, min_per_s=0.0, ttl=10))
    budget.deposit(0.0)
    budget.deposit(1.0)
    trace = [budget.withdraw(2.0), budget.withdraw(3.0)]  # 2 requests x 0.5: one retry
    budget.deposit(4.0)
    budget.deposit(5.0)
    trace += [budget.withdraw(5.0), budget.withdraw(6.0)]  # 4 requests: two retries, one left
    # at 10.5 the request of 0 left the window: 3 x 0.5 = 1.5 < 2 retries + 1; at 15.5 the window
    # holds the requests of 4 and 5 no more (<= 5.5) and the retry of 5 neither: 0 allowed
    trace += [budget.withdraw(10.5), budget.withdraw(15.5)]
    assert trace == [True, False, True, False, False, False]
    floor = Budget(RetryBudget(ratio=0.0, min_per_s=0.2, ttl=10))  # 0.2/s x 10 s: two retries, no requests
    assert [floor.withdraw(t) for t in (0.0, 1.0, 2.0, 10.5)] == [True, True, False, True]


def test_the_token_bucket_stops_retries_at_half_and_refills_on_success() -> None:
    bucket = TokenBucket(RetryThrottle(max_tokens=4, token_ratio=0.5))
    trace = []
    for success in (False, False, True, False, False, False, False, True, True, True, True, True):
        bucket.record(success)
        trace.append((bucket.tokens, bucket.allows_retry()))
    # a failure costs 1 (never below 0), a success refills 0.5 (never above 4); retries while > 2
    assert trace == [
        (3.0, True),
        (2.0, False),
        (2.5, True),
        (1.5, False),
        (0.5, False),
        (0.0, False),
        (0.0, False),
        (0.5, False),
        (1.0, False),
        (1.5, False),
        (2.0, False),
        (2.5, True),
    ]
    full = TokenBucket(RetryThrottle(max_tokens=4, token_ratio=0.5))
    full.record(True)
    assert full.tokens == 4


def test_adaptive_throttling_refuses_with_its_probability() -> None:
    draws = Script(0.4, 0.7, 0.2, 0.6)
    throttle = AdaptiveThrottle(AdaptiveThrottling(k=2, window=10), cast(Draws, draws))
    trace = [throttle.refuses(0.0)]  # no request before: p = 0, no draw
    throttle.record(0.0, 503)  # an overload answer: not an accept
    trace.append(throttle.refuses(1.0))  # p = (1 - 0) / 2 = 0.5; draw 0.4: refused
    trace.append(throttle.refuses(2.0))  # p = 2 / 3; draw 0.7: sent
    throttle.record(2.0, 200)
    trace.append(throttle.refuses(3.0))  # p = (3 - 2 x 1) / 4 = 0.25; draw 0.2: refused
    # at 12 the window (2, 12] keeps the request of 3 only, no accept: p = 1 / 2; draw 0.6: sent
    trace.append(throttle.refuses(12.0))
    assert trace == [False, True, False, True, False] and draws.taken == 4
