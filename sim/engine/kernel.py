"""The engine's event loop: scheduled callbacks in a heap, SimPy's event order, time-weighted gauges."""

from __future__ import annotations

import math
from collections.abc import Callable
from heapq import heappop, heappush
from itertools import count
from typing import Any, Final

import simpy
from simpy.events import NORMAL, URGENT, Event

__all__ = ["Gauge", "Kernel"]

# (time_s: float, priority: int, id: int, callback, arg). Typed as a variable-length tuple on purpose:
# mypyc unboxes a fixed-length tuple type into a C struct and boxes it again on every store to the heap.
Entry = tuple[Any, ...]
LAST: Final = (1 << 62) - 1  # a priority and an id after every real one (mypyc's largest unboxed int)
NATIVE: Final = not __file__.endswith(".py")  # compiled by mypyc: the heap compares keys in C, not tuples


def _nothing(_: Any) -> None:
    """The callback of the markers that are never called."""


NO_ARRIVAL: Entry = (math.inf, LAST, LAST, _nothing, None)  # no arrival pending: after every event


def _before(a: Entry, b: Entry) -> bool:
    """``a[:3] < b[:3]`` for entries: time, then priority, then id (unique: callbacks are never compared).

    Compiled, this compares unboxed floats and ints; Python's tuple comparison would go through
    rich comparison of each element. Same answer, NaN included (a NaN time is never before).
    """
    a_s: float = a[0]
    b_s: float = b[0]
    if a_s != b_s:
        return a_s < b_s
    a_priority: int = a[1]
    b_priority: int = b[1]
    if a_priority != b_priority:
        return a_priority < b_priority
    a_id: int = a[2]
    b_id: int = b[2]
    return a_id < b_id


def _push(heap: list[Entry], entry: Entry) -> None:
    """``heapq.heappush`` ordered by ``_before`` (the same algorithm: sift the new leaf up)."""
    heap.append(entry)
    pos = len(heap) - 1
    while pos > 0:
        parent_pos = (pos - 1) >> 1
        parent = heap[parent_pos]
        if not _before(entry, parent):
            break
        heap[pos] = parent
        pos = parent_pos
    heap[pos] = entry


def _pop(heap: list[Entry]) -> Entry:
    """``heapq.heappop`` ordered by ``_before``: the last leaf replaces the top, via heapq's bottom-up sift."""
    last = heap.pop()
    if not heap:
        return last
    top = heap[0]
    end = len(heap)
    pos = 0
    child = 1
    while child < end:  # move the smaller child up until a leaf is reached
        right = child + 1
        if right < end and not _before(heap[child], heap[right]):
            child = right
        heap[pos] = heap[child]
        pos = child
        child = 2 * pos + 1
    while pos > 0:  # then put the old last leaf there and sift it up
        parent_pos = (pos - 1) >> 1
        parent = heap[parent_pos]
        if not _before(last, parent):
            break
        heap[pos] = parent
        pos = parent_pos
    heap[pos] = last
    return top


class Kernel:
    """A heap of scheduled callbacks, run in exactly the order SimPy would run them.

    An entry is ``(time, priority, id, callback, arg)``; the loop calls ``callback(arg)``. Ties
    break as SimPy breaks them: by time, then priority (urgent first), then the order scheduled
    (the id; unique, so callbacks and arguments are never compared). A request costs a tuple per
    step and no SimPy ``Event``. The engine's few periodic processes (monitors, health checks,
    faults) are SimPy processes on ``env``, whose events join the same heap and clock. The next
    open-loop arrival waits beside the heap with the key it would have in it (``call_arrival``):
    one push and pop less per request, the same order.
    """

    __slots__ = ("_arrival", "_eid", "_queue", "env", "now")

    def __init__(self) -> None:
        self.now = 0.0  # simulated time in seconds (SimPy processes read the same clock as env.now)
        self._queue: list[Entry] = []
        self._arrival: Entry = NO_ARRIVAL  # the next arrival of a sorted column, beside the heap
        self._eid = count()
        self.env: simpy.Environment = _Processes(self)

    def run(self, until_s: float) -> None:
        """Process every event due before ``until_s``, exactly as ``simpy.Environment.run(until=until_s)`` would.

        SimPy stops at a marker it schedules at ``until_s`` with URGENT priority: events at that
        instant run first only when URGENT and scheduled before the marker. This loop keeps that
        order (and spends the marker's event id, so later ties break alike).
        """
        now = self.now
        if until_s <= now:
            raise ValueError(f"until ({until_s}) must be greater than the current simulation time")
        until_s = now + (until_s - now)  # SimPy schedules the marker after a delay: same rounding
        stop: Entry = (until_s, URGENT, next(self._eid), _nothing, None)
        queue = self._queue
        if NATIVE:
            while True:
                entry = self._arrival  # the arrival runs when its key is below the heap's top, as if in it
                if queue and _before(queue[0], entry):
                    entry = queue[0]
                    if entry[0] >= until_s and _before(stop, entry):
                        break
                    _pop(queue)
                else:
                    if entry[0] >= until_s and _before(stop, entry):
                        break  # NO_ARRIVAL (no arrival, empty heap) always stops here
                    self._arrival = NO_ARRIVAL
                self.now = entry[0]
                entry[3](entry[4])
        else:  # the same loop with Python's tuple comparison and heapq (C): faster when not compiled
            stop_key = stop[:3]
            while True:
                entry = self._arrival
                if queue and queue[0] < entry:
                    entry = queue[0]
                    if entry[0] >= until_s and entry[:3] > stop_key:
                        break
                    heappop(queue)
                else:
                    if entry[0] >= until_s and entry[:3] > stop_key:
                        break
                    self._arrival = NO_ARRIVAL
                self.now = entry[0]
                entry[3](entry[4])
        self.now = until_s

    def count_events(self) -> int:
        """Events scheduled so far (call once, at the end)."""
        return next(self._eid)

    def call_later(self, delay_s: float, callback: Callable[[Any], None], arg: Any) -> None:
        """Call ``callback(arg)`` after ``delay_s`` simulated seconds."""
        entry: Entry = (self.now + delay_s, NORMAL, next(self._eid), callback, arg)
        if NATIVE:
            _push(self._queue, entry)
        else:
            heappush(self._queue, entry)

    def call_at(self, at_s: float, callback: Callable[[Any], None], arg: Any) -> None:
        """Call ``callback(arg)`` at simulated time ``at_s`` (not before now)."""
        entry: Entry = (at_s, NORMAL, next(self._eid), callback, arg)
        if NATIVE:
            _push(self._queue, entry)
        else:
            heappush(self._queue, entry)

    def call_arrival(self, at_s: float, callback: Callable[[Any], None], arg: Any) -> None:
        """``call_at`` for a source whose calls come in time order, one pending at a time (open-loop arrivals).

        The call takes the key ``call_at`` would give it (same time, priority and id: the ids are
        spent in the same order) but waits beside the heap, not in it: the loop runs it when its
        key is the smallest, so the order of events is exactly the heap's. The callback of the
        pending call schedules the next one; one source only may use this.
        """
        self._arrival = (at_s, NORMAL, next(self._eid), callback, arg)

    def schedule_event(self, event: Event, priority: int, delay_s: float) -> None:
        """Queue a SimPy event of ``env`` (``Environment.schedule`` of the processes' environment)."""
        entry: Entry = (self.now + delay_s, priority, next(self._eid), _fire, event)
        if NATIVE:
            _push(self._queue, entry)
        else:
            heappush(self._queue, entry)


class _Processes(simpy.Environment):
    """SimPy's environment for the engine's periodic processes, on the kernel's heap and clock.

    Only ``Kernel.run`` runs it: stepping it on its own would bypass the kernel's callbacks.
    """

    def __init__(self, kernel: Kernel) -> None:
        super().__init__()
        self._kernel = kernel

    @property
    def now(self) -> float:
        return self._kernel.now

    def schedule(self, event: Event, priority: Any = NORMAL, delay: Any = 0) -> None:
        self._kernel.schedule_event(event, priority, delay)

    def peek(self) -> float:
        raise RuntimeError("the engine's Kernel owns the event queue: ask it, not its SimPy environment")

    def step(self) -> None:
        raise RuntimeError("the engine's Kernel runs the events: Kernel.run, not Environment.step")

    def run(self, until: Any = None) -> Any:
        raise RuntimeError("the engine's Kernel runs the events: Kernel.run, not Environment.run")


def _fire(event: Event) -> None:
    """Process one SimPy event popped from the queue (what ``Environment.step`` does after its pop)."""
    callbacks, event.callbacks = event.callbacks, None  # type: ignore[assignment]
    for callback in callbacks:
        callback(event)
    if not event._ok and not hasattr(event, "_defused"):
        exc = type(event._value)(*event._value.args)  # a failed, undefused event: crash, as SimPy does
        exc.__cause__ = event._value
        raise exc


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
