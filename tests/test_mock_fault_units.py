"""The mock's fault machinery without HTTP: the admin body's checks, the plan of a scenario's faults,
the router's capacity rounding next to the simulator's, a server's crash, the load generator's side."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from loadtest.attempt import _request
from loadtest.errors import error_status
from loadtest.mock.injection import FaultError, Injection, parse_injection, planned_injections
from loadtest.mock.process import new_loop
from loadtest.mock.server import CrashError, MockServer, SlotStart
from loadtest.target import Target
from sim.control.capacity import RouterSlots
from sim.engine import Simulation
from sim.engine.faults import target_indices
from sim.engine.kernel import Kernel
from sim.engine.records import AttemptLog
from sim.engine.router import Router
from sim.faults import KINDS
from sim.rng import Draws, stream
from sim.scenario import Router as RouterSpec
from sim.scenario.loading import parse_scenario
from tests.test_mock_faults import scenario


@pytest.mark.parametrize("factors", [[0.5], [0.33, 0.5], [0.1, 0.999, 0.7]])
def test_capacity_follows_the_simulators_rounding(factors: list[float]) -> None:
    mock = RouterSlots(10)  # the mock router's slots, played through the table's mock entry
    sim = Router(Kernel(), RouterSpec(instances=2, concurrency=5), (), Draws(stream(1, "x")), AttemptLog())
    kind = KINDS["router_saturation"]
    for factor in factors:
        kind.mock_router_apply(mock, factor)
        sim.saturate(factor, active=True)
        assert mock.capacity == sim.capacity
    for factor in factors:  # ended in the order they started: not the reverse
        kind.mock_router_lift(mock, factor)
        sim.saturate(factor, active=False)
        assert mock.capacity == sim.capacity
    assert mock.capacity == 10 and mock.capacity_scale == 1.0 and sim.capacity_scale == 1.0


def test_nothing_of_a_mock_fault_outlives_it() -> None:
    server = MockServer(0, parse_scenario(scenario(), "s.yaml").clusters[0], 1, 0)
    slow_a, slow_b = Injection("slowdown", "a", 0, 1.1), Injection("slowdown", "a", 0, 1.3)
    errors, cut = Injection("error_rate", "a", 0, 0.5), Injection("partition", "a", 0)
    for fault in (slow_a, slow_b, errors, cut, cut):
        KINDS[fault.kind].mock_apply(server, fault)
    KINDS[slow_a.kind].mock_lift(server, slow_a)  # the first ends while the second holds: still slowed by it alone
    KINDS[cut.kind].mock_lift(server, cut)
    assert server.slow_factor == pytest.approx(1.3) and server.partitioned and server.error_fractions == [(0.5, 0.0)]
    for fault in (slow_b, errors, cut):
        KINDS[fault.kind].mock_lift(server, fault)
    assert (server.slow_factor, server.error_fractions, server.partitioned) == (1.0, [], False)


def test_nothing_of_a_simulated_fault_outlives_it() -> None:
    faults = [
        {"kind": "slowdown", "target": "a", "at": 10, "until": 30, "factor": 1.3},
        {"kind": "slowdown", "target": "a", "at": 20, "until": 40, "factor": 7.0},  # ends last, started last
        {"kind": "router_saturation", "target": "router", "at": 10, "until": 30, "factor": 0.3},
        {"kind": "router_saturation", "target": "router", "at": 20, "until": 40, "factor": 0.9},
    ]
    simulation = Simulation(
        parse_scenario(scenario(faults=faults, router={"concurrency": 10}, duration=60), "s.yaml"), 1
    )
    simulation.run()
    servers = [server for cluster in simulation.clusters for server in cluster.servers]
    assert all(s.slow_factor == 1.0 and not s.slowdowns for s in servers)  # 1.3 x 7 / 1.3 / 7 != 1.0
    assert simulation.router.capacity_scale == 1.0 and simulation.router.capacity == 10  # 0.3 x 0.9 / 0.3 / 0.9 too


def test_the_load_generator_names_the_class_and_reads_error_frames() -> None:
    head = _request(Target("127.0.0.1", 8800), b"{}", "heavy").decode()
    assert "\r\nX-Orchsim-Class: heavy\r\n" in head and head.endswith("\r\n\r\n{}")
    assert "X-Orchsim-Class" not in _request(Target("127.0.0.1", 8800), b"{}", None).decode()
    assert [error_status(e) for e in ({"code": "500"}, {"code": 504}, {"code": "oops"}, "x")] == [500, 504, 500, 500]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "body"),
        ({"kind": "meltdown"}, "kind"),
        ({"kind": "crash", "in_flight": "maybe"}, "in_flight"),
        ({"kind": "crash", "server": -1}, "server"),
        ({"kind": "crash", "servers": 1}, "servers"),
        ({"kind": "error_rate", "value": 1.5}, "value"),
        ({"kind": "healthcheck_flap", "value": "half"}, "value"),
        ({"kind": "slowdown", "value": 0}, "value"),
        ({"kind": "slowdown", "value": 1e300}, "value"),  # it left the server poisoned
        ({"kind": "crash", "duration_s": 1e300}, "duration_s"),
        ({"kind": "slowdown", "duration_s": -1}, "duration_s"),
        ({"kind": "router_saturation", "value": 1.0}, "value"),
        ({"kind": "drain", "duration_s": 1}, "duration_s"),
        ({"kind": "crash", "at_monotonic_s": "soon"}, "at_monotonic_s"),
        ({"kind": "crash", "at_monotonic_s": True}, "at_monotonic_s"),
    ],
)
def test_bad_injections_name_the_field(body: Any, field: str) -> None:
    with pytest.raises(FaultError) as info:
        parse_injection(body)
    assert info.value.field == field and field in str(info.value)


def test_the_plan_of_a_scenarios_faults() -> None:
    """Scaled times, the simulator's servers; a drain as one permanent injection per server."""
    parsed = parse_scenario(
        scenario(
            cluster={"servers": 4},
            faults=[
                {"kind": "crash", "target": "a", "at": 10, "duration": 20, "fraction": 0.5, "in_flight": "lost"},
                {"kind": "drain", "target": "a", "at": 100, "duration": 30, "fraction": 1.0},
                {"kind": "router_saturation", "target": "router", "at": 50, "until": 60, "factor": 0.4},
            ],
        ),
        "plan.yaml",
    )
    _, crashed = target_indices(parsed.faults[0], list(parsed.clusters), 7, 0)
    _, drained = target_indices(parsed.faults[1], list(parsed.clusters), 7, 1)
    assert planned_injections(parsed, 7, 10.0) == [
        *[(1.0, Injection("crash", "a", i, 0.5, 2.0, "lost")) for i in crashed],
        *[(10.0 + k, Injection("drain", "a", i)) for k, i in enumerate(drained)],
        (5.0, Injection("router_saturation", None, None, 0.4, 1.0)),
    ]
    assert len(crashed) == 2 and sorted(drained) == [0, 1, 2, 3]


def test_a_crash_ends_what_the_server_holds_and_frees_its_slots() -> None:
    """One slot, room for one: the holder's wait and the queued ticket both raise CrashError; the
    slots are free after the crash and the holder's late release does not add one."""
    parsed = parse_scenario(scenario(cluster={"slots": 1, "queue_limit": 1}), "tiny.yaml")

    async def run() -> list[object]:
        server = MockServer(0, parsed.clusters[0], 1, 0)
        life = server.life
        assert await server.acquire()
        holder = asyncio.create_task(server.pause(10.0, life))
        queued = asyncio.create_task(server.acquire())
        while server.queued < 1:  # the task has taken its place in line
            await asyncio.sleep(0)
        trace: list[object] = [server.free, server.queued]
        server.crash(lost=False)
        for task in (holder, queued):
            with pytest.raises(CrashError):
                await task
        server.release(life)
        trace += [server.free, server.down, server.up]
        with pytest.raises(CrashError):
            await server.pause(0.0, life)  # a request of the old life cannot go on
        return trace

    assert asyncio.run(run()) == [0, 1, 1, True, False]


@pytest.mark.parametrize("uvloop", [False, True], ids=["asyncio", "uvloop"])
def test_a_slot_handed_over_late_starts_the_next_service_when_the_last_was_due(uvloop: bool) -> None:
    """The event loop hands a slot over late (here 100 ms after the holder's service was due): the
    next request's service starts at the due instant, or at its own arrival if that came later, and
    a request cut short (due in the future) frees its slot now, not then. Also on uvloop, the mock's
    loop, whose ``loop.time()`` counts whole milliseconds: the instants must be finer than that."""
    parsed = parse_scenario(scenario(cluster={"slots": 1}), "tiny.yaml")

    async def run() -> tuple[list[SlotStart | None], float]:
        server = MockServer(0, parsed.clusters[0], 1, 0)
        life = server.life
        first = await server.acquire()
        assert first is not None
        second = asyncio.create_task(server.acquire())
        while server.queued < 1:  # waiting in line...
            await asyncio.sleep(0)
        await asyncio.sleep(max(0.0, first.begin + 0.3 - time.monotonic()))  # ...while time passes: the point
        server.release(life, first.begin + 0.2)  # due 100 ms ago; the second has waited since well before
        started = await second
        assert started is not None
        third = asyncio.create_task(server.acquire())
        while server.queued < 1:
            await asyncio.sleep(0)
        await asyncio.sleep(0.3)  # time passing is the point
        server.release(life, started.begin + 0.001)  # due before the third arrived: it starts on arrival
        fourth = asyncio.create_task(server.acquire())
        while server.queued < 1:
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)  # time passing is the point
        server.release(life, time.monotonic() + 10.0)  # the third cut short: the fourth starts now
        return [first, started, await third, await fourth], time.monotonic()

    loop = new_loop() if uvloop else asyncio.new_event_loop()
    try:
        (first, second, third, fourth), end = loop.run_until_complete(run())
    finally:
        loop.close()
    assert first is not None and second is not None and third is not None and fourth is not None
    assert first.begin == first.arrived
    assert second.arrived < first.begin + 0.2 and second.begin == first.begin + 0.2
    assert third.arrived > second.begin + 0.001 and third.begin == third.arrived
    assert fourth.arrived + 0.04 < fourth.begin <= end
    assert any(abs(t * 1000 - round(t * 1000)) > 1e-6 for t in (first.arrived, third.arrived, fourth.begin))


def test_an_injection_due_later_waits_for_its_instant_on_the_shared_clock() -> None:
    due = parse_injection({"kind": "crash", "at_monotonic_s": time.monotonic() + 0.5})
    assert 0.4 < due.delay_s() <= 0.5
    assert parse_injection({"kind": "crash", "at_monotonic_s": time.monotonic() - 1}).delay_s() == 0.0
    assert parse_injection({"kind": "crash"}).delay_s() == 0.0
