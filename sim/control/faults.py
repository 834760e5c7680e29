"""How the faults in force on one server compose; the same state on a simulated and a mock server.

Each fault in force is one entry in its kind's list (``sim/faults/`` adds and removes them), and
what the server does is recomputed from the entries left, never divided back: slowdown factors
multiply; error_rate faults and healthcheck_flap faults act as independent failures, one draw per
fault in force, in the order they started.
"""

from __future__ import annotations

import math
from typing import Protocol

from sim.rng import Uniform

__all__ = ["FaultedServer", "add_slowdown", "error_latency_s", "flapped", "lift_slowdown"]


class FaultedServer(Protocol):
    """A server's fault state, one entry per fault in force."""

    slowdowns: list[float]  # slowdown factors
    slow_factor: float  # their product: service times are multiplied by it
    error_fractions: list[tuple[float, float]]  # error_rate: (share of requests failed, error latency s)
    flap_fractions: list[float]  # healthcheck_flap: share of probes failed


def add_slowdown(server: FaultedServer, factor: float) -> None:
    """A slowdown by ``factor`` starts."""
    server.slowdowns.append(factor)
    server.slow_factor = math.prod(server.slowdowns)


def lift_slowdown(server: FaultedServer, factor: float) -> None:
    """A slowdown by ``factor`` ends."""
    server.slowdowns.remove(factor)
    server.slow_factor = math.prod(server.slowdowns)


def error_latency_s(fractions: list[tuple[float, float]], draws: Uniform) -> float | None:
    """Whether the error_rate faults in force fail a request starting service: the latency of its
    500 answer (the first fault whose draw hits), or None. One draw per fault, until one hits."""
    for fraction, latency_s in fractions:
        if draws.uniform() < fraction:
            return latency_s
    return None


def flapped(fractions: list[float], draws: Uniform) -> bool:
    """Whether the healthcheck_flap faults in force fail a probe. One draw per fault, until one hits."""
    return any(draws.uniform() < fraction for fraction in fractions)
