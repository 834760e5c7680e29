"""The engine's event loop: scheduled callbacks in a heap, SimPy's event order, time-weighted gauges."""

from __future__ import annotations

import math
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any, Final

import simpy
import simpy.events
from simpy.events import Event

from sim.engine.heap import NATIVE, Entry, before, pop, push

__all__ = ["Gauge", "Kernel"]

URGENT: Final = 0  # SimPy's priorities (simpy.events.URGENT and NORMAL, checked below): urgent first
NORMAL: Final = 1
if (URGENT, NORMAL) != (simpy.events.URGENT, simpy.events.NORMAL):
    raise ImportError("simpy's event priorities changed: sim.engine.kernel needs URGENT=0 and NORMAL=1")
RANK_BITS: Final = 56  # an entry's rank is priority << RANK_BITS | id: ids stay far below 2**56
LAST: Final = (1 << 62) - 1  # a rank after every real one (mypyc's largest unboxed int)


def _nothing(_: Any) -> None:
    """The callback of the markers that are never called."""


NO_ARRIVAL: Final = Entry(math.inf, LAST, _nothing, None)  # no arrival pending: after every event
# pure Python: the same heap as tuples (time, rank, callback, arg), which heapq (C) orders faster than
# sim.engine.heap run as Python orders entries
Scheduled = tuple[float, int, Callable[[Any], None], Any]
NO_ARRIVAL_TUPLE: Final[Scheduled] = (math.inf, LAST, _nothing, None)


class Kernel:
    """A heap of scheduled callbacks, run in exactly the order SimPy would run them.

    An entry (``sim.engine.heap.Entry``) has the time as its key, a rank, the callback as its item
    and its argument; the loop calls ``callback(arg)``. Ties break as SimPy breaks them: by time,
    then priority (urgent first), then the order scheduled (the id): the rank is
    ``priority << RANK_BITS | id``, unique, so callbacks and arguments are never compared. A request
    costs an entry per step and no SimPy ``Event``. Run as pure Python, the kernel keeps the same
    keys in tuples ordered by heapq instead (``_tuples``, ``_arrival_tuple``). The engine's few
    periodic processes (monitors, health checks, faults) are SimPy processes on ``env``, whose
    events join the same heap and clock. The next open-loop arrival waits beside the heap with the
    key it would have in it (``call_arrival``): one push and pop less per request, the same order.
    """

    __slots__ = ("_arrival", "_arrival_tuple", "_eid", "_queue", "_tuples", "env", "now")

    def __init__(self) -> None:
        self.now = 0.0  # simulated time in seconds (SimPy processes read the same clock as env.now)
        self._queue: list[Entry] = []
        self._arrival: Entry = NO_ARRIVAL  # the next arrival of a sorted column, beside the heap
        self._tuples: list[Scheduled] = []  # pure Python: the heap
        self._arrival_tuple: Scheduled = NO_ARRIVAL_TUPLE  # pure Python: the next arrival
        self._eid = 0  # the id of the next entry: the order scheduled
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
        rank = URGENT << RANK_BITS | self._eid
        self._eid += 1
        if NATIVE:
            stop = Entry(until_s, rank, _nothing, None)
            queue = self._queue
            while True:
                entry = self._arrival  # the arrival runs when its key is below the heap's top, as if in it
                if queue and before(queue[0], entry):
                    entry = queue[0]
                    if entry.key >= until_s and before(stop, entry):
                        break
                    pop(queue)
                else:
                    if entry.key >= until_s and before(stop, entry):
                        break  # NO_ARRIVAL (no arrival, empty heap) always stops here
                    self._arrival = NO_ARRIVAL
                self.now = entry.key
                entry.item(entry.arg)
        else:  # the same loop over tuples with Python's tuple comparison and heapq
            stop_key = (until_s, rank)
            tuples = self._tuples
            while True:
                scheduled = self._arrival_tuple
                if tuples and tuples[0] < scheduled:
                    scheduled = tuples[0]
                    if scheduled[0] >= until_s and scheduled[:2] > stop_key:
                        break
                    heappop(tuples)
                else:
                    if scheduled[0] >= until_s and scheduled[:2] > stop_key:
                        break
                    self._arrival_tuple = NO_ARRIVAL_TUPLE
                self.now = scheduled[0]
                scheduled[2](scheduled[3])
        self.now = until_s

    def count_events(self) -> int:
        """Events scheduled so far (call once, at the end)."""
        return self._eid

    def call_later(self, delay_s: float, callback: Callable[[Any], None], arg: Any) -> None:
        """Call ``callback(arg)`` after ``delay_s`` simulated seconds."""
        self._schedule(self.now + delay_s, NORMAL, callback, arg)

    def call_at(self, at_s: float, callback: Callable[[Any], None], arg: Any) -> None:
        """Call ``callback(arg)`` at simulated time ``at_s`` (not before now)."""
        self._schedule(at_s, NORMAL, callback, arg)

    def call_arrival(self, at_s: float, callback: Callable[[Any], None], arg: Any) -> None:
        """``call_at`` for a source whose calls come in time order, one pending at a time (open-loop arrivals).

        The call takes the key ``call_at`` would give it (same time, priority and id: the ids are
        spent in the same order) but waits beside the heap, not in it: the loop runs it when its
        key is the smallest, so the order of events is exactly the heap's. The callback of the
        pending call schedules the next one; one source only may use this.
        """
        eid = self._eid
        self._eid = eid + 1
        if NATIVE:
            self._arrival = Entry(at_s, NORMAL << RANK_BITS | eid, callback, arg)
        else:
            self._arrival_tuple = (at_s, NORMAL << RANK_BITS | eid, callback, arg)

    def schedule_event(self, event: Event, priority: int, delay_s: float) -> None:
        """Queue a SimPy event of ``env`` (``Environment.schedule`` of the processes' environment)."""
        self._schedule(self.now + delay_s, priority, _fire, event)

    def _schedule(self, at_s: float, priority: int, callback: Callable[[Any], None], arg: Any) -> None:
        """Push ``callback(arg)`` at ``at_s`` with SimPy's ``priority``, ranked after every entry scheduled before."""
        eid = self._eid
        self._eid = eid + 1
        if NATIVE:
            push(self._queue, Entry(at_s, priority << RANK_BITS | eid, callback, arg))
        else:
            heappush(self._tuples, (at_s, priority << RANK_BITS | eid, callback, arg))


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
