"""The engine's kernel: its own event loop runs events in exactly SimPy's order."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pytest
import simpy
from simpy.events import URGENT

from sim.engine.kernel import Kernel

Schedule = Callable[[float, Callable[[Any], None], Any], None]


def _scenario(env: simpy.Environment, log: list[tuple[str, float]], call_at: Schedule) -> None:
    """Calls and SimPy processes at tied times, some exactly at the stop times 1.0 and 2.0."""

    def note(name: str) -> None:
        log.append((name, env.now))  # SimPy's clock: the kernel keeps it equal to its own
        if name == "a":  # a call scheduled from a call, at the same instant: runs after its elders
            call_at(env.now, note, "a-again")

    def ticker() -> Generator[Any, Any, None]:
        for _ in range(4):
            yield env.timeout(0.5)
            log.append(("tick", env.now))

    for at_s, name in ((1.0, "a"), (0.5, "b"), (1.0, "c"), (2.0, "d"), (0.25, "e")):
        call_at(at_s, note, name)
    env.process(ticker())
    urgent = env.event()  # scheduled before the stop marker at 2.0, and urgent: it runs before the stop
    urgent._ok, urgent._value = True, None
    urgent.callbacks.append(lambda _: log.append(("urgent", env.now)))
    env.schedule(urgent, URGENT, 2.0)


def _by_simpy(until: tuple[float, ...]) -> list[tuple[str, float]]:
    """The same scenario on a plain SimPy environment stepped by ``Environment.run`` (calls as events)."""
    env, log = simpy.Environment(), list[tuple[str, float]]()

    def call_at(at_s: float, fn: Callable[[Any], None], arg: Any) -> None:
        event = env.event()
        event.callbacks.append(lambda _: fn(arg))
        event._ok, event._value = True, None
        env.schedule(event, delay=at_s - env.now)

    _scenario(env, log, call_at)
    for at_s in until:
        env.run(until=at_s)
        log.append(("stop", env.now))
    return log


def test_kernel_run_keeps_simpy_order_and_stops() -> None:
    kernel, log = Kernel(), list[tuple[str, float]]()
    _scenario(kernel.env, log, kernel.call_at)
    for at_s in (1.0, 2.0, 3.0):
        kernel.run(at_s)
        assert kernel.now == kernel.env.now == at_s
        log.append(("stop", kernel.now))
    assert log == _by_simpy((1.0, 2.0, 3.0))
    assert log == [  # SimPy's stop marker is urgent: normal events at the stop time run after it
        ("e", 0.25),
        ("b", 0.5),
        ("tick", 0.5),
        ("stop", 1.0),
        ("a", 1.0),
        ("c", 1.0),
        ("tick", 1.0),
        ("a-again", 1.0),
        ("tick", 1.5),
        ("urgent", 2.0),
        ("stop", 2.0),
        ("d", 2.0),
        ("tick", 2.0),
        ("stop", 3.0),
    ]


def test_kernel_run_refuses_the_past() -> None:
    kernel = Kernel()
    kernel.run(1.0)
    with pytest.raises(ValueError, match="greater than the current"):
        kernel.run(0.5)


def test_failed_process_crashes_the_run() -> None:
    kernel = Kernel()

    def broken() -> Generator[Any, Any, None]:
        yield kernel.env.timeout(0.1)
        raise RuntimeError("boom")

    kernel.env.process(broken())
    with pytest.raises(RuntimeError, match="boom"):
        kernel.run(1.0)


def test_the_processes_environment_is_run_by_the_kernel_only() -> None:
    kernel = Kernel()
    with pytest.raises(RuntimeError, match=r"Kernel\.run"):
        kernel.env.run(until=1.0)
    with pytest.raises(RuntimeError, match=r"Kernel\.run"):
        kernel.env.step()


def _arrivals_among_ties(kernel: Kernel, arrive: Schedule) -> list[tuple[str, float]]:
    """A chain of arrivals (each schedules the next through ``arrive``) tied with calls, a process and stops.

    Arrivals come at 0.5, 1.0, 1.0, 1.0, 2.0 and 2.0: tied with each other, with calls scheduled
    before and after the arrival's own id was spent, with a SimPy process's timeouts and with the
    stop markers at 1.0 and 2.0. Each arrival also schedules a call at its own instant.
    """
    log: list[tuple[str, float]] = []
    times = (0.5, 1.0, 1.0, 1.0, 2.0, 2.0)
    env = kernel.env

    def note(name: str) -> None:
        log.append((name, kernel.now))

    def arrival(i: int) -> None:
        if i + 1 < len(times):
            arrive(times[i + 1], arrival, i + 1)
        log.append((f"arrival {i}", kernel.now))
        kernel.call_at(kernel.now, note, f"after arrival {i}")  # scheduled after the next arrival's id
        if i == 1:
            kernel.call_at(1.0, note, "late call at 1.0")

    def ticker() -> Generator[Any, Any, None]:
        for _ in range(4):
            yield env.timeout(0.5)
            log.append(("tick", env.now))

    kernel.call_at(1.0, note, "call at 1.0 before")  # its id comes before every arrival's
    arrive(times[0], arrival, 0)
    kernel.call_at(1.0, note, "call at 1.0 after")  # its id comes after the first arrival's only
    kernel.call_at(2.0, note, "call at 2.0")
    env.process(ticker())
    for at_s in (1.0, 2.0, 3.0):
        kernel.run(at_s)
        log.append(("stop", kernel.now))
    return log


def test_arrivals_beside_the_heap_run_where_the_heap_would_run_them() -> None:
    heap_kernel = Kernel()
    in_heap = _arrivals_among_ties(heap_kernel, heap_kernel.call_at)
    kernel = Kernel()
    beside = _arrivals_among_ties(kernel, kernel.call_arrival)
    assert beside == in_heap
    assert kernel.count_events() == heap_kernel.count_events()
    assert in_heap == [  # ties broken by the order the ids were spent: an arrival's when its elder ran
        ("arrival 0", 0.5),
        ("tick", 0.5),
        ("after arrival 0", 0.5),
        ("stop", 1.0),
        ("call at 1.0 before", 1.0),
        ("call at 1.0 after", 1.0),
        ("arrival 1", 1.0),
        ("tick", 1.0),
        ("arrival 2", 1.0),
        ("after arrival 1", 1.0),
        ("late call at 1.0", 1.0),
        ("arrival 3", 1.0),
        ("after arrival 2", 1.0),
        ("after arrival 3", 1.0),
        ("tick", 1.5),
        ("stop", 2.0),
        ("call at 2.0", 2.0),
        ("arrival 4", 2.0),
        ("tick", 2.0),
        ("arrival 5", 2.0),
        ("after arrival 4", 2.0),
        ("after arrival 5", 2.0),
        ("stop", 3.0),
    ]


def test_the_engines_heap_pops_in_the_order_of_heapq() -> None:
    """``sim.engine.heap`` (the compiled kernel's heap and every LLM decode heap) against heapq on the same keys,
    ties included."""
    import heapq

    import numpy as np

    from sim.engine import heap

    rng = np.random.default_rng(18)
    ours: list[heap.Entry] = []
    theirs: list[tuple[float, int]] = []
    popped_ours: list[tuple[float, int]] = []
    popped_theirs: list[tuple[float, int]] = []

    def key(entry: heap.Entry) -> tuple[float, int]:
        return entry.key, entry.rank

    ranks = rng.permutation(5000)  # unique tie-breakers, not in the order pushed
    for rank in ranks:  # few distinct floats: many ties, broken by the rank
        entry = heap.Entry(float(rng.integers(0, 40)) / 4, int(rank), print, None)
        heap.push(ours, entry)
        heapq.heappush(theirs, key(entry))
        if rng.random() < 0.4:
            popped_ours.append(key(heap.pop(ours)))
            popped_theirs.append(heapq.heappop(theirs))
    while theirs:
        popped_ours.append(key(heap.pop(ours)))
        popped_theirs.append(heapq.heappop(theirs))
    assert not ours
    assert popped_ours == popped_theirs
    assert len(popped_ours) == 5000

    def at(key: float, rank: int) -> heap.Entry:
        return heap.Entry(key, rank, None, None)

    assert heap.before(at(1.0, 5), at(1.0, 6)) and not heap.before(at(1.0, 6), at(1.0, 6))
    assert heap.before(at(0.5, 9), at(1.0, 6)) and not heap.before(at(float("nan"), 1), at(1.0, 6))


def test_schedule_ties_follow_simpy_priority_then_order() -> None:
    """An urgent event scheduled after normal ones at the same time still runs first, as in SimPy."""
    kernel = Kernel()
    log: list[str] = []

    def noting(name: str) -> Callable[[Any], None]:
        return lambda _: log.append(name)

    for name in ("normal 1", "normal 2"):
        event = kernel.env.event()
        event._ok, event._value = True, None
        event.callbacks.append(noting(name))
        kernel.env.schedule(event, delay=1.0)
    urgent = kernel.env.event()
    urgent._ok, urgent._value = True, None
    urgent.callbacks.append(lambda _: log.append("urgent"))
    kernel.env.schedule(urgent, URGENT, 1.0)
    kernel.call_at(1.0, log.append, "call")
    kernel.run(2.0)
    assert log == ["urgent", "normal 1", "normal 2", "call"]
    assert kernel.count_events() == 5  # four entries and the stop marker
