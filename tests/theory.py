"""Closed-form queueing results the simulator must agree with (times in units of 1/rate): the tests'
oracle, so it lives with them (the simulator itself never uses it)."""

from __future__ import annotations

import math

__all__ = [
    "erlang_c",
    "expected_attempts",
    "jsq_d_time_in_system",
    "mm1_time_in_system_s",
    "mmc_wait_s",
    "pk_wait_s",
    "smallest_servers",
]


def erlang_c(servers: int, offered_erlangs: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (Erlang C), computed stably."""
    if servers <= 0:
        raise ValueError('"servers" must be > 0.')
    if offered_erlangs >= servers:
        return 1.0
    erlang_b = 1.0  # Erlang B by its recurrence, then C from B
    for k in range(1, servers + 1):
        erlang_b = offered_erlangs * erlang_b / (k + offered_erlangs * erlang_b)
    rho = offered_erlangs / servers
    return erlang_b / (1.0 - rho + rho * erlang_b)


def mmc_wait_s(servers: int, arrival_rps: float, service_rate_per_s: float) -> float:
    """Mean queueing delay Wq of M/M/c: C(c, A) / (c mu - lambda)."""
    if arrival_rps >= servers * service_rate_per_s:
        return math.inf
    return erlang_c(servers, arrival_rps / service_rate_per_s) / (servers * service_rate_per_s - arrival_rps)


def mm1_time_in_system_s(arrival_rps: float, service_rate_per_s: float) -> float:
    """Mean time in system of M/M/1: 1 / (mu - lambda)."""
    if arrival_rps >= service_rate_per_s:
        return math.inf
    return 1.0 / (service_rate_per_s - arrival_rps)


def pk_wait_s(arrival_rps: float, mean_service_s: float, second_moment_s2: float) -> float:
    """Mean queueing delay of M/G/1 (Pollaczek-Khinchine): lambda E[S^2] / (2 (1 - rho))."""
    rho = arrival_rps * mean_service_s
    if rho >= 1:
        return math.inf
    return arrival_rps * second_moment_s2 / (2.0 * (1.0 - rho))


def jsq_d_time_in_system(load: float, d: int, terms: int = 64) -> float:
    """Mean-field mean time in system of JSQ(d) with mu = 1: sum_{i>=1} load^((d^i - 1)/(d - 1) - 1)."""
    if not 0 < load < 1 or d < 2:
        raise ValueError("need 0 < load < 1 and d >= 2")
    total = 0.0
    for i in range(1, terms + 1):
        exponent = (d**i - 1) / (d - 1)
        term = load**exponent
        total += term
        if term < 1e-15:
            break
    return total / load


def expected_attempts(failure_probability: float, retries: int) -> float:
    """Expected attempts per request with independent failures and ``retries`` retries."""
    x = failure_probability
    if x >= 1:
        return float(retries + 1)
    return (1.0 - x ** (retries + 1)) / (1.0 - x)


def smallest_servers(arrival_rps: float, service_rate_per_s: float, max_wait_s: float) -> int:
    """Smallest c whose M/M/c mean wait is at most ``max_wait_s``."""
    servers = max(1, math.floor(arrival_rps / service_rate_per_s) + 1)
    while mmc_wait_s(servers, arrival_rps, service_rate_per_s) > max_wait_s:
        servers += 1
    return servers
