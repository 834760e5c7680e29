"""Thin helpers over SimPy's event queue: callbacks at a delay, time-weighted gauges, attempts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import simpy
from simpy.events import Timeout

__all__ = ["Attempt", "Gauge", "Kernel"]


class Kernel:
    """The SimPy environment plus a counter of scheduled events.

    Requests are not SimPy processes: each step is a ``Timeout`` with a callback, which costs a
    fraction of a generator-based process and keeps the run deterministic (SimPy breaks time ties
    by insertion order).
    """

    __slots__ = ("env", "events")

    def __init__(self) -> None:
        self.env = simpy.Environment()
        self.events = 0

    @property
    def now(self) -> float:
        """Simulated time in seconds."""
        return self.env._now

    def call_later(self, delay_s: float, callback: Callable[[Any], None], value: Any) -> None:
        """Call ``callback(value)`` after ``delay_s`` simulated seconds."""
        event = Timeout(self.env, delay_s, (callback, value))
        event.callbacks.append(_dispatch)
        self.events += 1


def _dispatch(event: Any) -> None:
    callback, value = event._value
    callback(value)


class Gauge:
    """A piecewise-constant quantity (queue depth, busy slots) averaged over time windows."""

    __slots__ = ("_area", "_last_s", "value")

    def __init__(self, value: float = 0.0) -> None:
        self.value = value
        self._last_s = 0.0
        self._area = 0.0

    def add(self, delta: float, now_s: float) -> None:
        """Change the value by ``delta`` at time ``now_s``."""
        self._area += self.value * (now_s - self._last_s)
        self._last_s = now_s
        self.value += delta

    def take_area(self, now_s: float) -> float:
        """Integral of the value since the last call, up to ``now_s`` (value x seconds)."""
        area = self._area + self.value * (now_s - self._last_s)
        self._area = 0.0
        self._last_s = now_s
        return area


class Attempt:
    """One attempt of a user request, from the client's send to its answer."""

    __slots__ = (
        "cancelled",
        "client_done",
        "cluster",
        "code",
        "end_s",
        "in_router",
        "klass",
        "number",
        "outcome",
        "req",
        "sent_s",
        "server",
        "server_done",
        "server_end_s",
        "start_s",
    )

    def __init__(self, req: int, number: int, klass: int, sent_s: float) -> None:
        self.req = req
        self.number = number
        self.klass = klass
        self.sent_s = sent_s
        self.start_s = float("nan")
        self.end_s = float("nan")
        self.server_end_s = float("nan")
        self.code = 0
        self.server: Any = None
        self.cluster = -1
        self.outcome = 200  # what the server will answer when service ends
        self.in_router = False
        self.client_done = False
        self.server_done = False
        self.cancelled = False
