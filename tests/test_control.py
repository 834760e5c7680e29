"""The control plane (sim/control/), one decision object at a time: given inputs and times, the exact
decisions. The simulator and the mock service both drive these objects (tests/test_control_shared.py)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import pytest

from sim.control.capacity import RouterSlots
from sim.control.cluster_choice import CLUSTER_CHOICES, choose_cluster
from sim.control.faults import add_slowdown, error_latency_s, flapped, lift_slowdown
from sim.control.health import HealthPolicy, probe_wait_s
from sim.control.outlier import OutlierEjection
from sim.control.retry import RouterRetries, router_retries
from sim.control.routing import build_strategy, is_remote, routable, serves, strategy_spec
from sim.control.shedding import Codel, GradientLimit, lowest_priority_victim
from sim.rng import Draws, stream
from sim.scenario import AdaptiveConcurrency, HealthCheck
from sim.scenario import Codel as CodelSpec
from sim.scenario import OutlierEjection as OutlierEjectionSpec
from sim.scenario import RouterRetries as RouterRetriesSpec
from tests.conftest import make_scenario
from tests.test_strategies import View


class Script:
    """Uniform draws given in advance; counts how many were taken."""

    def __init__(self, *values: float) -> None:
        self.values = deque(values)
        self.taken = 0

    def uniform(self) -> float:
        self.taken += 1
        return self.values.popleft()


@dataclass
class State:
    """One server as the control plane sees it (what Server and BackendView both carry)."""

    index: int = 0
    probed_healthy: bool = True
    probe_failures: int = 0
    probe_successes: int = 0
    consecutive_5xx: int = 0
    ejected: bool = False
    ejections: int = 0
    provisioned: bool = True
    drained: bool = False
    down: bool = False
    slowdowns: list[float] = field(default_factory=list)
    slow_factor: float = 1.0
    error_fractions: list[tuple[float, float]] = field(default_factory=list)
    flap_fractions: list[float] = field(default_factory=list)

    @property
    def up(self) -> bool:
        return not self.down


# --- health checks -------------------------------------------------------------------------------


def test_health_checks_fall_and_rise_after_their_thresholds() -> None:
    policy = HealthPolicy(HealthCheck(interval=2, timeout=0.5, unhealthy_threshold=3, healthy_threshold=2))
    state = State()
    probes = [False, False, True, False, False, False, False, True, False, True, True, True]
    trace = [(policy.record(state, ok), state.probed_healthy) for ok in probes]
    assert trace == [
        (False, True),
        (False, True),
        (False, True),  # a success breaks the run of failures
        (False, True),
        (False, True),
        (True, False),  # third failure in a row: down
        (False, False),
        (False, False),
        (False, False),  # a failure breaks the run of successes
        (False, False),
        (True, True),  # second success in a row: up
        (False, True),
    ]
    assert (state.probe_failures, state.probe_successes) == (0, 3)
    policy.reset(state)
    assert (state.probed_healthy, state.probe_failures, state.probe_successes) == (True, 0, 0)
    assert policy.interval_s == 2 and policy.answers_in_time(0.5) and not policy.answers_in_time(0.5000001)


def test_a_probe_waits_behind_the_queue_at_full_concurrency() -> None:
    # 3 queued + the probe, 2 at a time, 0.4 s each, slowed 1.5 x and 1.25 x at full concurrency
    assert probe_wait_s(3, 2, 0.4, 1.5, 1.25) == pytest.approx(4 / 2 * 0.4 * 1.5 * 1.25)
    assert probe_wait_s(0, 4, 1.0, 1.0, 1.0) == 0.25


# --- outlier ejection ----------------------------------------------------------------------------


def test_outlier_ejection_ejects_holds_and_restores_with_exact_counts() -> None:
    held: list[tuple[int, float]] = []
    spec = OutlierEjectionSpec(consecutive_5xx=2, base_ejection=10, max_ejected_fraction=0.5)
    ejection: OutlierEjection[State] = OutlierEjection(spec, 5, lambda s, hold_s: held.append((s.index, hold_s)))
    assert ejection.max_ejected == 2  # floor(0.5 x 5)
    a, b, c = State(0), State(1), State(2)
    for state, code in [(a, 500), (a, 200), (a, 503), (a, 500), (a, 500), (a, 500)]:
        ejection.observe(state, code)
    # a 200 reset the count; the second 5xx in a row ejects for 10 s; answers while ejected keep counting
    assert held == [(0, 10.0)] and a.ejected and a.consecutive_5xx == 4 and ejection.ejected == 1
    ejection.restore(a)
    assert not a.ejected and a.consecutive_5xx == 0 and ejection.ejected == 0  # a fresh count on return
    ejection.observe(a, 500)
    assert held == [(0, 10.0)]  # one 5xx after returning is not enough
    ejection.observe(a, 502)
    assert held == [(0, 10.0), (0, 20.0)] and a.ejections == 2  # base x number of ejections
    for state in (b, b, c, c):
        ejection.observe(state, 500)
    assert held == [(0, 10.0), (0, 20.0), (1, 10.0)] and not c.ejected  # the cap: two at once
    ejection.restore(b)
    ejection.observe(c, 500)
    assert held[-1] == (2, 10.0) and c.ejected and ejection.ejected == 2


def test_outlier_ejection_always_allows_one() -> None:
    spec = OutlierEjectionSpec(consecutive_5xx=1, base_ejection=1, max_ejected_fraction=0.1)
    ejection: OutlierEjection[State] = OutlierEjection(spec, 3, lambda s, hold_s: None)
    assert ejection.max_ejected == 1


# --- routing: routable servers, strategies, clusters serving a request ---------------------------


def names(chosen: list[State]) -> list[int]:
    return [s.index for s in chosen]


def test_routable_servers_and_the_panic_rule() -> None:
    servers = [State(0), State(1, probed_healthy=False), State(2, ejected=True), State(3, down=True)]
    servers += [State(4, drained=True), State(5, provisioned=False)]
    assert names(routable(servers, checked=False, panic_threshold=0.0)) == [0, 1]  # discovery: 3 is down
    assert names(routable(servers, checked=True, panic_threshold=0.0)) == [0, 3]  # probes: 1 is unhealthy
    assert names(routable(servers, checked=True, panic_threshold=0.5)) == [0, 3]  # 2 of 4 candidates: not below
    assert names(routable(servers, checked=True, panic_threshold=0.51)) == [0, 1, 2, 3]  # panic: all not drained
    assert routable([State(0, drained=True)], checked=False, panic_threshold=1.0) == []


def test_a_clusters_own_strategy_wins_and_the_implementation_is_honoured() -> None:
    scenario = make_scenario(
        router={"strategy": "power_of_d", "params": {"d": 3}, "implementation": "haproxy"},
        clusters=[{"name": "a", "servers": 2}, {"name": "b", "servers": 2, "strategy": "round_robin"}],
    )
    a, b = scenario.clusters
    assert strategy_spec(scenario.router, a) == ("power_of_d", {"d": 3}, "router.params")
    assert strategy_spec(scenario.router, b) == ("round_robin", {}, "params")
    draws = Draws(stream(1, "t"))
    assert type(build_strategy(scenario.router, a, [View(0), View(1)], draws, lambda: 0.0)).__name__ == "HaproxyRandom"
    assert build_strategy(scenario.router, b, [View(0), View(1)], draws, lambda: 0.0).name == "round_robin"


def test_which_clusters_serve_a_request() -> None:
    scenario = make_scenario(
        workload={"rate": 1, "classes": [{"name": "chat"}, {"name": "batch"}]},
        clusters=[
            {"name": "any", "servers": 1},
            {"name": "big", "servers": 1, "models": ["big"]},
            {"name": "mine", "servers": 1, "classes": ["chat"]},
        ],
    )
    anyone, big, mine = scenario.clusters
    assert [serves(c, None, "chat") for c in (anyone, big, mine)] == [True, True, True]
    assert [serves(c, "big", "batch") for c in (anyone, big, mine)] == [True, True, False]
    assert [serves(c, "small", "chat@big") for c in (anyone, big, mine)] == [True, False, True]  # a twin's pool
    assert not is_remote(None, "eu") and not is_remote("eu", None) and not is_remote("eu", "eu")
    assert is_remote("us", "eu")


@dataclass
class Place:
    weight: float = 1.0
    region: str | None = None


@dataclass
class Load:
    """A cluster as the first routing level sees it."""

    name: str
    slots: int
    load: int
    spec: Place = field(default_factory=Place)

    @property
    def routable(self) -> list[int]:
        return list(range(self.slots))

    @property
    def routable_slots(self) -> int:
        return self.slots


def test_cluster_choices_with_exact_draws() -> None:
    a, b, c = Load("a", 4, 3, Place(1.0, "eu")), Load("b", 12, 6, Place(3.0, "us")), Load("c", 0, 0, Place(5.0))
    clusters = [a, b, c]
    choose = CLUSTER_CHOICES

    def pick(name: str, region: str | None, u: float, spill: float = 0.9) -> str:
        chosen = choose[name](clusters, region, Script(u), spill)
        return "none" if chosen is None else chosen.name

    # capacity_weighted: slots 4, 12, 0 -> draw x 16: below 4 is a
    assert [pick("capacity_weighted", None, u) for u in (0.2, 0.25, 0.99)] == ["a", "b", "b"]
    # weighted: 1 and 3 (c has no routable server): below 1/4 is a
    assert [pick("weighted", None, u) for u in (0.24, 0.26)] == ["a", "b"]
    assert choose["least_loaded"](clusters, None, Script(), 0.9) is b  # 6/12 < 3/4
    assert choose["region_spillover"](clusters, "eu", Script(), 0.9) is a  # home under 0.9
    assert choose["region_spillover"](clusters, "eu", Script(), 0.7) is b  # home over: least loaded elsewhere
    assert choose["region_spillover"](clusters, "eu", Script(), 0.4) is b  # all over: least loaded of all
    draws = Script()
    assert choose_cluster(choose["capacity_weighted"], [c], None, draws, 0.9) is c and draws.taken == 0
    assert choose_cluster(choose["least_loaded"], [c, Load("d", 0, 0)], None, draws, 0.9) is None


# --- router slots, fault composition -------------------------------------------------------------


def test_router_slots_under_overlapping_saturations() -> None:
    slots = RouterSlots(10)
    trace = []
    for factor, active in [(0.5, True), (0.33, True), (0.5, False), (0.33, False)]:
        slots.saturate(factor, active)
        trace.append(slots.capacity)
    assert trace == [5, 1, 3, 10] and slots.capacity_scale == 1.0  # floor(10 x 0.5 x 0.33) = 1
    slots.in_flight = 10
    assert slots.full()
    unbounded = RouterSlots(None)
    unbounded.saturate(0.5, True)
    unbounded.in_flight = 10**6
    assert unbounded.capacity is None and not unbounded.full()


def test_faults_compose_on_a_server() -> None:
    server = State()
    add_slowdown(server, 2.0)
    add_slowdown(server, 1.5)
    lift_slowdown(server, 2.0)
    assert server.slowdowns == [1.5] and server.slow_factor == 1.5
    lift_slowdown(server, 1.5)
    assert server.slow_factor == 1.0
    fractions = [(0.5, 0.1), (0.2, 0.3)]
    draws = Script(0.7, 0.1, 0.4, 0.9, 0.9)
    assert error_latency_s(fractions, draws) == 0.3 and draws.taken == 2  # the first misses, the second hits
    assert error_latency_s(fractions, draws) == 0.1 and draws.taken == 3  # one draw when the first hits
    assert error_latency_s(fractions, draws) is None and draws.taken == 5
    flaps = Script(0.2, 0.6, 0.1)
    assert flapped([0.3, 0.5], flaps) and flaps.taken == 1
    assert flapped([0.3, 0.5], flaps) and flaps.taken == 3
    assert not flapped([], flaps)


# --- retries and shedding ------------------------------------------------------------------------


def test_router_retries() -> None:
    assert router_retries(None) is None and router_retries(RouterRetriesSpec(max=0)) is None
    rule = router_retries(RouterRetriesSpec(max=2, on=[503]))
    assert isinstance(rule, RouterRetries)
    assert [rule.retries(503, hop) for hop in range(3)] == [True, True, False]
    assert not rule.retries(500, 0)


def test_codel_drops_after_a_whole_interval_above_target() -> None:
    codel = Codel(CodelSpec(target=0.005, interval=0.1))
    waits = [(0.01, 1.0), (0.01, 1.05), (0.01, 1.1), (0.01, 1.11), (0.001, 1.2), (0.01, 1.3)]
    assert [codel.drops(wait_s, now_s) for wait_s, now_s in waits] == [False, False, True, True, False, False]


def test_gradient_limit_moves_towards_the_gradient() -> None:
    spec = AdaptiveConcurrency(initial_limit=4, min_limit=1, max_limit=100, interval=1, window=10, tolerance=2.0)
    limit = GradientLimit(spec)
    assert [limit.admits() for _ in range(5)] == [True, True, True, True, False]
    for latency_s in (1.0, 1.0, 1.0, 1.0):
        limit.done(latency_s, success=True)
    limit.update()  # gradient 1 (tolerance 2 x base 1 / short 1, capped): 4 + 0.2 x sqrt(4)
    assert limit.limit == pytest.approx(4.4)
    limit.update()  # no sample: unchanged
    assert limit.limit == pytest.approx(4.4)


@dataclass
class Waiting:
    priority: int
    cancelled: bool = False


def test_the_victim_is_the_newest_of_the_lowest_priority() -> None:
    low, low_newer, gone, high = Waiting(0), Waiting(0), Waiting(-1, cancelled=True), Waiting(2)
    queue: list[Any] = [low, gone, high, low_newer]
    assert lowest_priority_victim(queue, 1) is low_newer
    assert lowest_priority_victim(queue, 0) is None
