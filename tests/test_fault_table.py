"""The fault effect table (sim/faults/): a kind is one entry that the scenario, the simulator and the
mock all read; apply/lift compose the same on both sides; an unknown kind is refused at load time."""

from __future__ import annotations

import math
from collections.abc import Generator, Iterator
from typing import Any, ClassVar

import pytest

from loadtest.mock.injection import FaultError, Injection, parse_injection
from loadtest.mock.server import MockServer
from sim.control.capacity import RouterSlots
from sim.engine import Simulation
from sim.faults import KINDS, FaultKind, MockServerState, SimEffect, register, scenario_kinds
from sim.faults.base import MockFault
from sim.scenario.loading import ScenarioError, parse_scenario
from sim.workload.trace import Trace
from tests.conftest import make_scenario
from tests.test_mock_faults import scenario as mock_scenario

DET = {"kind": "deterministic", "mean": 1.0}


class Toy(FaultKind):
    """A kind a test adds: it counts its starts and ends on each server's error list."""

    name = "toy"
    trace: ClassVar[list[tuple[float, str, int]]] = []

    def sim_apply(self, effect: SimEffect) -> None:
        self.trace.append((effect.kernel.now, "apply", len(effect.servers)))

    def sim_lift(self, effect: SimEffect) -> None:
        self.trace.append((effect.kernel.now, "lift", len(effect.servers)))

    def mock_apply(self, server: MockServerState, fault: MockFault) -> None:
        server.unavailables += 1

    def mock_lift(self, server: MockServerState, fault: MockFault) -> None:
        server.unavailables -= 1


@pytest.fixture
def toy() -> Iterator[type[Toy]]:
    register(Toy)
    Toy.trace.clear()
    try:
        yield Toy
    finally:
        del KINDS["toy"]


def test_a_new_kind_is_one_class_and_its_registration(toy: type[Toy]) -> None:
    faults = [{"kind": "toy", "target": "c", "at": 2, "duration": 3, "fraction": 0.5}]
    scenario = make_scenario(clusters=[{"name": "c", "servers": 4, "service": DET}], faults=faults, duration=20)
    Simulation(scenario, trace=Trace.from_arrivals([1.0])).run()
    assert toy.trace == [(2.0, "apply", 2), (5.0, "lift", 2)]  # half of 4 servers, over [2, 5)
    assert "toy" in scenario_kinds() and parse_injection({"kind": "toy", "value": 3}).kind == "toy"
    server = MockServer(0, parse_scenario(mock_scenario(), "s.yaml").clusters[0], 1, 0)
    KINDS["toy"].mock_apply(server, Injection("toy"))
    assert server.unavailable
    KINDS["toy"].mock_lift(server, Injection("toy"))
    assert not server.unavailable


def test_an_unknown_kind_is_refused_at_load_naming_the_field() -> None:
    with pytest.raises(ScenarioError) as info:
        make_scenario(faults=[{"kind": "meltdown", "target": "c", "at": 1, "duration": 1}])
    (line,) = info.value.lines
    assert line.startswith("test.yaml: faults.0.kind: ") and "'meltdown'" in line and "crash" in line
    with pytest.raises(FaultError) as error:
        parse_injection({"kind": "meltdown"})
    assert error.value.field == "kind"
    with pytest.raises(ScenarioError):  # a mock-only kind is no scenario kind
        make_scenario(faults=[{"kind": "unavailable", "target": "c", "at": 1, "duration": 1}])


def test_every_kind_acts_somewhere() -> None:
    """Each entry has the effects its targets need: the simulator's for scenario kinds, the mock's for all."""
    for name, kind in KINDS.items():
        sim_kind = (
            type(kind).sim_apply is not FaultKind.sim_apply or type(kind).sim_process is not FaultKind.sim_process
        )
        assert sim_kind == kind.in_scenarios, name
        mock_hook = FaultKind.mock_router_apply if kind.targets_router else FaultKind.mock_apply
        assert getattr(type(kind), mock_hook.__name__) is not mock_hook, name


def _sim_trace(faults: list[dict[str, Any]], probe: str) -> list[tuple[float, float]]:
    """(time, value) of ``probe`` on server 0 (or the router) just after each fault starts or ends."""
    scenario = make_scenario(
        clusters=[{"name": "c", "servers": 1, "service": DET}],
        router={"concurrency": 10},
        faults=faults,
        duration=60,
    )
    simulation = Simulation(scenario, trace=Trace.from_arrivals([0.5]))
    trace: list[tuple[float, float]] = []
    server, router = simulation.clusters[0].servers[0], simulation.router
    values = {
        "slow": lambda: server.slow_factor,
        "errors": lambda: 1.0 - math.prod(1.0 - f for f, _ in server.error_fractions),
        "capacity": lambda: float(router.capacity or 0),
    }
    for fault in faults:
        for at in (fault["at"], fault["until"]):
            simulation.kernel.env.process(_probe(simulation, at, values[probe], trace))
    simulation.run()
    return sorted(set(trace))


def _probe(
    simulation: Simulation, at: float, value: Any, trace: list[tuple[float, float]]
) -> Generator[Any, Any, None]:
    yield simulation.kernel.env.timeout(at + 0.5)  # after the fault's event at ``at``, before any other
    trace.append((at, value()))


SLOWDOWNS = [
    {"kind": "slowdown", "target": "c", "at": 10, "until": 30, "factor": 1.3},
    {"kind": "slowdown", "target": "c", "at": 20, "until": 40, "factor": 7.0},
]
ERRORS = [
    {"kind": "error_rate", "target": "c", "at": 10, "until": 30, "fraction": 0.5},
    {"kind": "error_rate", "target": "c", "at": 20, "until": 40, "fraction": 0.2},
]
SATURATIONS = [
    {"kind": "router_saturation", "target": "router", "at": 10, "until": 30, "factor": 0.5},
    {"kind": "router_saturation", "target": "router", "at": 20, "until": 40, "factor": 0.7},
]


def test_simulated_faults_compose_with_exact_traces() -> None:
    assert _sim_trace(SLOWDOWNS, "slow") == [(10, 1.3), (20, 1.3 * 7.0), (30, 7.0), (40, 1.0)]
    assert _sim_trace(ERRORS, "errors") == [(10, 0.5), (20, 1 - 0.5 * 0.8), (30, 1 - 0.8), (40, 0.0)]
    assert _sim_trace(SATURATIONS, "capacity") == [(10, 5.0), (20, 3.0), (30, 7.0), (40, 10.0)]


def _mock_trace(faults: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """The same faults on a mock server (or router capacity) through the table, in time order."""
    server = MockServer(0, parse_scenario(mock_scenario(), "s.yaml").clusters[0], 1, 0)
    capacity = RouterSlots(10)
    events = sorted([(f["at"], 1, f) for f in faults] + [(f["until"], 0, f) for f in faults], key=lambda e: e[0])
    trace = []
    for at, start, fault in events:
        kind = KINDS[fault["kind"]]
        value = fault.get(kind.value_field, 1.0)
        if kind.targets_router:
            (kind.mock_router_apply if start else kind.mock_router_lift)(capacity, value)
        elif start:
            kind.mock_apply(server, Injection(kind.name, value=value))
        else:
            kind.mock_lift(server, Injection(kind.name, value=value))
        errors = 1.0 - math.prod(1.0 - f for f, _ in server.error_fractions)
        state = {"slowdown": server.slow_factor, "error_rate": errors}
        trace.append((float(at), state.get(kind.name, float(capacity.capacity or 0))))
    return trace


@pytest.mark.parametrize(("faults", "probe"), [(SLOWDOWNS, "slow"), (ERRORS, "errors"), (SATURATIONS, "capacity")])
def test_the_mock_composes_like_the_simulator(faults: list[dict[str, Any]], probe: str) -> None:
    assert _mock_trace(faults) == _sim_trace(faults, probe)


def test_injection_values_are_checked_by_their_kind() -> None:
    for body, field in [
        ({"kind": "slowdown", "value": 0}, "value"),
        ({"kind": "error_rate", "value": 1.5}, "value"),
        ({"kind": "router_saturation", "value": 1}, "value"),
        ({"kind": "drain", "duration_s": 5}, "duration_s"),
    ]:
        with pytest.raises(FaultError) as info:
            parse_injection(body)
        assert info.value.field == field, body
    assert parse_injection({"kind": "healthcheck_flap", "value": 0.3}) == Injection("healthcheck_flap", value=0.3)


def test_a_kind_says_what_a_real_balancer_cannot_play() -> None:
    from loadtest.balancers.mapping import refusals

    faults = [
        {"kind": "router_saturation", "target": "router", "at": 1, "duration": 1, "factor": 0.5},
        {"kind": "drain", "target": "c", "at": 1, "duration": 1},
        {"kind": "crash", "target": "c", "at": 1, "duration": 1},
        {"kind": "slowdown", "target": "c", "at": 1, "duration": 1, "factor": 2},
    ]
    lines = refusals(make_scenario(faults=faults, router={"concurrency": 4}), "haproxy")
    assert [line for line in lines if line.startswith("faults.")] == [
        "faults.0.kind: router_saturation acts on orchsim's router, not on haproxy",
        "faults.1.kind: drain is told to orchsim's router by service discovery; haproxy is not",
        "faults.2.kind: crash without router.health_check: orchsim's router learns of crashes at once from "
        "service discovery, haproxy only from health checks",
    ]
