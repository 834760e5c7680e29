"""Thin helpers over SimPy's event queue: scheduled callbacks, time-weighted gauges, attempts."""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

import simpy
from simpy.events import NORMAL, URGENT

__all__ = ["Attempt", "Call", "Gauge", "Kernel"]


class Kernel:
    """The SimPy environment plus a counter of scheduled events.

    Requests are not SimPy processes: each step is an event with one callback, pushed on SimPy's
    queue the way ``Environment.schedule`` does, which costs a fraction of a generator-based
    process and keeps the run deterministic (SimPy breaks time ties by insertion order).
    """

    __slots__ = ("_eid", "_queue", "env", "now")

    def __init__(self) -> None:
        self.env = simpy.Environment()
        self.now = 0.0  # simulated time in seconds: the engine reads it here, SimPy processes read env.now
        self._queue: list[Any] = self.env._queue  # holds Events; a Call quacks like one (see Call)
        self._eid = self.env._eid

    def run(self, until_s: float) -> None:
        """Process every event due before ``until_s``, exactly as ``env.run(until=until_s)`` would.

        SimPy stops at a marker it schedules at ``until_s`` with URGENT priority: events at that
        instant run first only when URGENT and scheduled before the marker. This loop keeps that
        order (and spends the marker's event id, so later ties break alike) but pops the queue
        itself: a ``Call`` costs one function call instead of ``Environment.step``'s bookkeeping.
        """
        env = self.env
        if until_s <= env._now:
            raise ValueError(f"until ({until_s}) must be greater than the current simulation time")
        until_s = env._now + (until_s - env._now)  # SimPy schedules the marker after a delay: same rounding
        stop = (until_s, URGENT, next(self._eid))
        queue = self._queue
        call = Call
        while queue:
            entry = queue[0]
            if entry[0] >= until_s and entry[:3] > stop:
                break
            heappop(queue)
            env._now = self.now = entry[0]
            event = entry[3]
            if type(event) is call:
                event.fn(event)
            else:
                _step(event)
        env._now = self.now = until_s

    def count_events(self) -> int:
        """Events scheduled so far, from SimPy's own event id counter (call once, at the end)."""
        return int(next(self._eid))

    def call_later(self, delay_s: float, callback: Callable[[Call], None], arg: Any) -> None:
        """Call ``callback(call)`` after ``delay_s`` simulated seconds, with ``call.arg == arg``."""
        self.call_at(self.now + delay_s, callback, arg)

    def call_at(self, at_s: float, callback: Callable[[Call], None], arg: Any) -> None:
        """Call ``callback(call)`` at simulated time ``at_s`` (not before now), with ``call.arg == arg``."""
        heappush(self._queue, (at_s, NORMAL, next(self._eid), Call(callback, arg)))


def _step(event: Any) -> None:
    """Process one SimPy event popped from the queue (what ``Environment.step`` does after its pop)."""
    callbacks, event.callbacks = event.callbacks, None
    for callback in callbacks:
        callback(event)
    if not event._ok and not hasattr(event, "_defused"):
        exc = type(event._value)(*event._value.args)  # a failed, undefused event: crash, as SimPy does
        exc.__cause__ = event._value
        raise exc


class Call:
    """A scheduled callback carrying one argument, queued on SimPy's own event queue.

    Only ``Kernel.run`` pops it (the unique event id decides ties, so entries are never compared):
    a slotted object instead of a full ``Event`` with its per-instance dict and callback list.
    """

    __slots__ = ("arg", "fn")

    def __init__(self, fn: Callable[[Call], None], arg: Any) -> None:
        self.fn = fn
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
