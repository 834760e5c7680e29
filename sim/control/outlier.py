"""Passive outlier ejection: a server that answers 5xx ``consecutive_5xx`` times in a row is ejected
for ``base_ejection`` x its number of ejections so far, while at most ``max_ejected_fraction`` of the
cluster (at least one server) is ejected at once.

Reset rules: any answer below 500 resets the count; the count is left alone when a server is ejected
(answers of requests it still holds keep counting, and eject nobody) and reset to zero when it
returns. Envoy's outlier detection behaves the same way (an ejected host is not re-ejected until it
returns). The ejection's end is the caller's to schedule: ``on_eject(state, hold_s)`` is told how long
it lasts, and calls ``restore(state)`` when it is over.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:  # scenario models for types only: the control plane stands below the scenario
    from sim.scenario import OutlierEjection as OutlierEjectionSpec


__all__ = ["OutlierEjection", "OutlierState"]


class OutlierState(Protocol):
    """What outlier ejection keeps per server."""

    consecutive_5xx: int
    ejected: bool
    ejections: int


S = TypeVar("S", bound=OutlierState)


class OutlierEjection(Generic[S]):
    """Outlier ejection over one cluster of ``server_count`` servers (its autoscaler's room included)."""

    __slots__ = ("base_s", "ejected", "max_ejected", "on_eject", "threshold")

    def __init__(self, spec: OutlierEjectionSpec, server_count: int, on_eject: Callable[[S, float], None]) -> None:
        self.threshold = spec.consecutive_5xx
        self.base_s = spec.base_ejection
        self.max_ejected = max(1, math.floor(spec.max_ejected_fraction * server_count))
        self.ejected = 0  # servers ejected now
        self.on_eject = on_eject  # (server, how long in seconds): the caller schedules restore()

    def observe(self, state: S, code: int) -> None:
        """The router saw the server of ``state`` answer ``code``."""
        if code < 500:
            state.consecutive_5xx = 0
            return
        state.consecutive_5xx += 1
        if state.consecutive_5xx >= self.threshold and not state.ejected and self.ejected < self.max_ejected:
            state.ejected = True
            state.ejections += 1
            self.ejected += 1
            self.on_eject(state, self.base_s * state.ejections)

    def restore(self, state: S) -> None:
        """The ejection of ``state``'s server is over: it is routable again, its count starts afresh."""
        state.ejected = False
        state.consecutive_5xx = 0
        self.ejected -= 1
