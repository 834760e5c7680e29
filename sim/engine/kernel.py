"""Thin helpers over SimPy's event queue: scheduled callbacks, time-weighted gauges, attempts."""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappush
from typing import Any

import simpy
from simpy.events import NORMAL

__all__ = ["Attempt", "Call", "Gauge", "Kernel"]


class Kernel:
    """The SimPy environment plus a counter of scheduled events.

    Requests are not SimPy processes: each step is an event with one callback, pushed on SimPy's
    queue the way ``Environment.schedule`` does, which costs a fraction of a generator-based
    process and keeps the run deterministic (SimPy breaks time ties by insertion order).
    """

    __slots__ = ("env",)

    def __init__(self) -> None:
        self.env = simpy.Environment()

    def count_events(self) -> int:
        """Events scheduled so far, from SimPy's own event id counter (call once, at the end)."""
        return int(next(self.env._eid))

    @property
    def now(self) -> float:
        """Simulated time in seconds."""
        return self.env._now

    def call_later(self, delay_s: float, callback: Callable[[Call], None], arg: Any) -> None:
        """Call ``callback(call)`` after ``delay_s`` simulated seconds, with ``call.arg == arg``."""
        self.call_at(self.env._now + delay_s, callback, arg)

    def call_at(self, at_s: float, callback: Callable[[Call], None], arg: Any) -> None:
        """Call ``callback(call)`` at simulated time ``at_s`` (not before now), with ``call.arg == arg``."""
        env = self.env
        queue: list[Any] = env._queue  # holds Events; a Call quacks like one (see Call)
        heappush(queue, (at_s, NORMAL, next(env._eid), Call(callback, arg)))


class Call:
    """A scheduled callback carrying one argument, queued on SimPy's own event queue.

    ``Environment.step`` reads only ``callbacks`` and ``_ok`` of what it pops (the unique event id
    decides ties, so entries are never compared), which lets this slotted object stand in for a
    full ``Event`` with its per-instance dict: a large share of the engine's cost per request.
    """

    __slots__ = ("arg", "callbacks")
    _ok = True  # SimPy's "succeeded" flag: always, for a call (a class attribute: one store less each)

    def __init__(self, callback: Callable[[Call], None], arg: Any) -> None:
        self.callbacks = [callback]
        self.arg = arg


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
    """One attempt of a user request, from the client's send to its answer.

    ``outcome`` and ``outcome_delay_s`` are set when service starts and ``enqueued_s`` when it
    joins a waiting room; they are read only after that, so the constructor leaves them unset.
    """

    outcome: int  # what the server will answer when service ends
    outcome_delay_s: float  # when the answer is an injected error: its latency
    enqueued_s: float  # when it entered a server's waiting room

    # defaults shared by every attempt until one sets its own (fewer stores per attempt: the
    # engine makes one per request and retry, and its constructor was a hot spot)
    service_u = -1.0  # per-request service draws: the request's quantile (-1: the server's stream)
    priority = 0  # criticality of its class: lower is shed first
    prompt_tokens = 1
    output_tokens = 1
    tokens = 2  # prompt + answer: what token-aware routing counts
    first_token_s = float("nan")
    limited = False  # counted by a cluster's adaptive concurrency limit
    hop = 0  # router retries of this client attempt so far
    start_s = float("nan")
    end_s = float("nan")
    server_end_s = float("nan")
    code = 0
    server: Any = None
    cluster = -1
    in_router = False
    client_done = False
    server_done = False
    cancelled = False

    def __init__(self, req: int, number: int, klass: int, session: int, work: float, sent_s: float) -> None:
        self.req = req
        self.number = number
        self.klass = klass
        self.session = session  # affinity key (a session or prefix id)
        self.work = work  # work units: the class's service-time multiplier
        self.sent_s = sent_s
