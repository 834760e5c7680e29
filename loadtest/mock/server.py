"""One mock server: slots, a FCFS waiting room (CoDel on it when the cluster has ``codel``, and a
full room evicting a lower-priority request: the simulator's ``sim.control.shedding``), fault state,
and a listening socket of its own.

A crash closes the socket (connections are refused) and every idle connection, and ends the
requests the server holds, queued or in service: they raise ``CrashError`` at once, and the handler
answers 500 (``in_flight: fail``) or never (``lost``: the client times out), as the simulator's
crash does. Recovery listens on the same port again. Crashes compose like the simulator's: the
server is down while any crash holds it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from loadtest.mock.guard import header_timeout_s
from sim.control.faults import flapped
from sim.control.shedding import Codel, lowest_priority_victim
from sim.rng import Draws, Stream, stream
from sim.scenario import Cluster
from sim.workload.service import ServiceTimes

__all__ = ["CrashError", "MockServer", "SlotStart"]


class CrashError(Exception):
    """The server crashed while holding the request; ``lost``: nobody is told."""

    def __init__(self, lost: bool) -> None:
        super().__init__("server crashed")
        self.lost = lost


def _resolve(timer: asyncio.Future[None]) -> None:
    if not timer.done():
        timer.set_result(None)


class SlotStart(NamedTuple):
    """A slot taken: when the request arrived and when its service starts (``time.monotonic()``);
    ``shed``: dropped from the waiting room instead, by CoDel when its turn came or for a request of
    a higher priority that found the room full (no slot is held: answer 503)."""

    arrived: float
    begin: float
    shed: bool = False


class _Handover(NamedTuple):
    """What a request waiting in line is told when its turn comes."""

    due: float  # when the slot it takes was due to free up (``time.monotonic()``)
    shed: bool  # dropped from the line instead (CoDel, eviction): it takes no slot


@dataclass(eq=False)
class _Ticket:
    """A request waiting in line (``sim.control.shedding.Queued`` for eviction)."""

    turn: asyncio.Future[_Handover]
    arrived: float  # ``time.monotonic()``
    priority: int  # its class's: a full room evicts the lowest below a newcomer's
    cancelled: bool = False  # the client left: it no longer counts (its ``turn`` is cancelled too)

    @property
    def live(self) -> bool:
        return not self.turn.done()


class MockServer:
    """One server: ``slots`` requests at once, FCFS waiting room of ``queue_limit`` (None: unbounded)."""

    def __init__(self, index: int, spec: Cluster, seed: int, cluster_index: int, time_scale: float = 1.0) -> None:
        self.index = index
        self.slots = spec.slots
        self.queue_limit = spec.queue_limit
        self.service = ServiceTimes(spec.service, stream(seed, Stream.SERVICE, cluster_index, index))
        self.fault_draws = Draws(stream(seed, Stream.FAULTS, cluster_index, index))
        self.flap_draws = Draws(stream(seed, Stream.HEALTH_FLAP, cluster_index, index))
        self.free = spec.slots
        self.waiting: deque[_Ticket] = deque()
        # CoDel decides in scenario seconds (its target and interval are the scenario's), as the simulator's
        self.codel = None if spec.codel is None else Codel(spec.codel)
        self.time_scale = time_scale
        self.timers: set[asyncio.Future[None]] = set()  # service (and probe) waits of held requests
        self.serving: set[RequestHandler] = set()  # connections carrying a request now
        # the faults in force, each kind a list (one entry per fault): the state is recomputed from
        # them when one ends, so nothing outlives its fault, and overlapping faults compose
        # how they compose is sim.control.faults', as on a simulated server
        self.slowdowns: list[float] = []  # slowdown factors
        self.slow_factor = 1.0  # their product: service times are multiplied by it
        self.error_fractions: list[tuple[float, float]] = []  # error_rate: (share, error latency s)
        self.flap_fractions: list[float] = []  # healthcheck_flap faults: share of probes failed, each
        self.partitions = 0  # partition: requests hang until every one ends
        self.unavailables = 0  # answers 503 to everything (runtime fault "unavailable")
        self.drained = False  # a drain retired it: the router sends it nothing new
        self.down_count = 0
        self.life = 0  # crashes so far: what a request took before a crash is not given back after it
        self.lost = False  # how the last crash treated the requests held
        self.closing = False  # the process is stopping: lost requests stop hanging
        self.runner: web.AppRunner | None = None
        self.listener: asyncio.Server | None = None
        self.port = 0
        self.on_change: Callable[[MockServer], None] = lambda server: None  # tells the router (discovery)
        self._reopening: asyncio.Task[None] | None = None

    @property
    def partitioned(self) -> bool:
        return self.partitions > 0

    @property
    def unavailable(self) -> bool:
        return self.unavailables > 0

    @property
    def down(self) -> bool:
        """True while a crash holds the server."""
        return self.down_count > 0

    @property
    def up(self) -> bool:
        """Not crashed and listening."""
        return not self.down and self.listener is not None

    @property
    def queued(self) -> int:
        return sum(1 for ticket in self.waiting if ticket.live)

    async def acquire(self, priority: int = 0) -> SlotStart | None:
        """Take a slot, waiting in line if needed: when the request arrived and when its service
        starts (``time.monotonic()``), or None when the waiting room is full; CrashError.

        A slot handed over in line starts its next service when the last one was due to end, or when
        the request arrived if later, not when the event loop got round to the handover: a GPU does not
        wait for Python, and the few milliseconds a busy loop adds to each hold would otherwise pile up
        in the queue (waits grew by 5-10% at 75% load on two busy cores, against the simulation).
        The clock is ``time.monotonic()``, not ``loop.time()``: uvloop's counts whole milliseconds.
        The waiting room's count does not follow that schedule: a request that comes after a slot
        was due to free up but before the loop released it still counts as waiting (but it does not
        meet CoDel: in the simulator it found the slot free). ``shed``: CoDel dropped it at its turn,
        or a request of higher ``priority`` took its place in a full room (the simulator's eviction)."""
        arrived, life = time.monotonic(), self.life
        if self.free > 0:
            self.free -= 1
            return SlotStart(arrived, arrived)
        if self.queue_limit is not None and self.queued >= self.queue_limit and not self._evict(priority, arrived):
            return None
        ticket = _Ticket(asyncio.get_running_loop().create_future(), arrived, priority)
        self.waiting.append(ticket)
        try:
            handover = await ticket.turn
        except asyncio.CancelledError:
            ticket.cancelled = True
            turn = ticket.turn
            if turn.done() and not turn.cancelled() and turn.exception() is None and not turn.result().shed:
                self.release(life, turn.result().due)  # handed over just as the client left: pass it on
            raise
        return SlotStart(arrived, max(arrived, handover.due), handover.shed)

    def release(self, life: int, due_end: float | None = None) -> None:
        """Hand the slot taken in ``life`` to the next in line, or free it (a crash freed it already);
        ``due_end`` is when its service was due to end on ``time.monotonic()`` (None: now). With CoDel,
        the next in line may be dropped (503) instead, as the simulator's server drops it when it
        dequeues: the slot then goes to the one after."""
        if life != self.life:
            return
        now = time.monotonic()
        due = now if due_end is None else min(due_end, now)  # a request cut short frees its slot now
        while self.waiting:
            ticket = self.waiting.popleft()
            if not ticket.live:  # the client left: it no longer counts, nor meets CoDel
                continue
            if self._sheds(ticket.arrived, due):
                ticket.turn.set_result(_Handover(due, shed=True))
                continue
            ticket.turn.set_result(_Handover(due, shed=False))
            return
        self.free += 1

    def _evict(self, priority: int, now: float) -> bool:
        """The waiting room is full: drop its newest request of the lowest priority below ``priority``
        (503) to make room, as the simulator's server does; False when there is none."""
        victim = lowest_priority_victim((t for t in self.waiting if t.live), priority)
        if victim is None:
            return False
        self.waiting.remove(victim)
        victim.turn.set_result(_Handover(now, shed=True))
        return True

    def _sheds(self, arrived: float, due: float) -> bool:
        """CoDel's decision on a request that arrived at ``arrived`` and whose turn comes at ``due``
        (``time.monotonic()``): the simulator's object, in scenario seconds. One that came after the
        slot was due to free up did not wait (the simulator started it at once): CoDel never sees it."""
        if self.codel is None or due <= arrived:
            return False
        return self.codel.drops((due - arrived) * self.time_scale, due * self.time_scale)

    async def pause_until(self, due: float, life: int) -> None:
        """Wait until ``due`` on ``time.monotonic()`` (at once if past); CrashError as ``pause``."""
        await self.pause(max(0.0, due - time.monotonic()), life)

    async def pause(self, delay_s: float, life: int) -> None:
        """Wait ``delay_s`` for a request taken in ``life``; CrashError if the server crashes first."""
        if life != self.life:
            raise CrashError(self.lost)
        loop = asyncio.get_running_loop()
        timer: asyncio.Future[None] = loop.create_future()
        handle = loop.call_later(delay_s, _resolve, timer)
        self.timers.add(timer)
        try:
            await timer
        finally:
            handle.cancel()
            self.timers.discard(timer)

    def flapped(self) -> bool:
        """Whether an active healthcheck_flap fault fails this probe (independent draws, as simulated)."""
        return flapped(self.flap_fractions, self.flap_draws)

    def crash(self, lost: bool) -> None:
        """Go down: stop listening, close idle connections, end every request held."""
        self.down_count += 1
        if self.down_count > 1:
            return
        self.life += 1
        self.lost = lost
        held: list[asyncio.Future[Any]] = [*(ticket.turn for ticket in self.waiting), *self.timers]
        for wait in held:
            if not wait.done():
                wait.set_exception(CrashError(lost))
        self.waiting.clear()
        self.timers.clear()
        self.free = self.slots
        self._close_listener()
        self.on_change(self)

    def recover(self) -> None:
        """End one crash; the server listens again once no crash holds it."""
        self.down_count -= 1
        if self.down_count == 0 and (self._reopening is None or self._reopening.done()):
            self._reopening = asyncio.ensure_future(self._reopen())

    def drain(self) -> None:
        """Retire the server for good: it finishes what it holds, the router sends it nothing new."""
        self.drained = True
        self.on_change(self)

    async def listen(self, app: web.Application, reserved: frozenset[int] = frozenset()) -> None:
        """Serve ``app`` as this server on 127.0.0.1: a free port not in ``reserved`` (the topology's
        router and backend ports, which may not be bound yet), kept across crashes."""
        self.runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=2.0, keepalive_timeout=header_timeout_s()
        )
        await self.runner.setup()
        passed: list[asyncio.Server] = []  # reserved ports the system offered: held so it offers others
        try:
            await self._open()
            while self.port in reserved:
                assert self.listener is not None
                passed.append(self.listener)
                self.port = 0
                await self._open()
        finally:
            for listener in passed:
                listener.close()

    async def close(self) -> None:
        """Stop serving for good (the process is stopping)."""
        self.closing = True
        if self._reopening is not None:
            self._reopening.cancel()
        if self.runner is not None:
            await self.runner.cleanup()

    async def _open(self) -> None:
        assert self.runner is not None and self.runner.server is not None
        loop = asyncio.get_running_loop()
        for attempt in range(100):
            try:
                self.listener = await loop.create_server(self.runner.server, "127.0.0.1", self.port, backlog=1024)
                break
            except OSError:
                if self.port == 0 or attempt == 99:
                    raise
                await asyncio.sleep(0.05)  # our old port: wait for the system to let go of it
        assert self.listener is not None and self.listener.sockets
        self.port = int(self.listener.sockets[0].getsockname()[1])

    async def _reopen(self) -> None:
        await self._open()
        if self.down:  # crashed again while the socket opened
            self._close_listener()
            return
        self.on_change(self)

    def _close_listener(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        if self.runner is not None and self.runner.server is not None:
            for connection in self.runner.server.connections:
                if connection in self.serving:
                    connection.close()  # after the answer the handler is giving now
                else:
                    connection.force_close()
