"""The simulator and the mock service drive the same control objects to the same decisions.

Each test runs a small scenario in the engine, recording what its detection saw (probe results,
answers) and decided (health flips, routable servers, ejections); then feeds the mock router's own
detection path the same outcomes, without network and on a virtual clock, and asserts the same
decisions in the same order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

import pytest

from loadtest.mock import detection
from loadtest.mock.detection import HealthChecks, outlier_ejection
from loadtest.mock.routed import BackendView, RoutedCluster, routed_clusters
from sim.control.cluster_choice import CLUSTER_CHOICES, choose_cluster
from sim.control.health import HealthPolicy, ProbeState
from sim.engine import Simulation
from sim.engine.server import Server
from sim.rng import Draws, Stream, stream
from sim.scenario import Scenario
from tests.conftest import make_scenario

EXP = {"kind": "exponential", "mean": 1.0}
Snapshot = tuple[tuple[bool, ...], tuple[int, ...]]  # (each server's health, the routable servers)


class RecordingPolicy(HealthPolicy):
    """The simulator's health policy, logging each probe result and the routable servers before each round."""

    def __init__(self, policy: HealthPolicy, servers: list[Server], routable: Callable[[], list[Server]]) -> None:
        self.healthy_threshold, self.unhealthy_threshold = policy.healthy_threshold, policy.unhealthy_threshold
        self.interval_s, self.timeout_s = policy.interval_s, policy.timeout_s
        self.servers, self.routable = servers, routable
        self.oks: list[bool] = []
        self.snapshots: list[Snapshot] = []

    def record(self, state: ProbeState, ok: bool) -> bool:
        if len(self.oks) % len(self.servers) == 0 and self.oks:  # a new round: the last one is settled
            self.snapshots.append(self.snapshot())
        self.oks.append(ok)
        return super().record(state, ok)

    def snapshot(self) -> Snapshot:
        return tuple(s.probed_healthy for s in self.servers), tuple(s.index for s in self.routable())


def _health_scenario() -> Scenario:
    return make_scenario(
        duration=100,
        workload={"rate": 5.0},
        clusters=[{"name": "c", "servers": 4, "slots": 2, "service": EXP}],
        router={
            "health_check": {"interval": 1, "timeout": 30, "unhealthy_threshold": 2, "healthy_threshold": 3},
            "panic_threshold": 0.5,
        },
        faults=[
            {"kind": "crash", "target": "c/1", "at": 10, "until": 30},
            {"kind": "crash", "target": "c/3", "at": 15, "until": 35},
            {"kind": "healthcheck_flap", "target": "c", "fraction": 0.5, "at": 40, "until": 70},
        ],
    )


def _simulated_health(scenario: Scenario) -> tuple[list[bool], list[Snapshot]]:
    simulation = Simulation(scenario)
    cluster = simulation.clusters[0]
    assert cluster.health is not None
    recorder = RecordingPolicy(cluster.health.policy, cluster.servers, lambda: cluster.routable)
    cluster.health.policy = recorder
    simulation.run()
    recorder.snapshots.append(recorder.snapshot())
    return recorder.oks, recorder.snapshots


def _mock_health(scenario: Scenario, oks: list[bool]) -> list[Snapshot]:
    """The mock router's probe loop (``HealthChecks.run``) fed ``oks`` instead of HTTP answers."""
    (cluster,) = routed_clusters(scenario, ["http://127.0.0.1:9"])
    spec = scenario.router.health_check
    assert spec is not None
    checks = HealthChecks(spec, 1e4, [cluster], cast(Any, None))  # probes 0.1 ms apart: no real wait
    views, rounds = cluster.views, len(oks) // len(cluster.views)
    snapshots: list[Snapshot] = []
    calls = itertools.count()

    async def play() -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def probe(view: BackendView) -> bool:
            n = next(calls)
            if n % len(views) == 0 and n:  # a new round: the last one is counted
                snapshots.append((tuple(v.probed_healthy for v in views), tuple(v.index for v in cluster.routable)))
            if n >= len(oks):
                if not done.done():
                    done.set_result(None)
                await asyncio.Future()  # never answers: the loop is stopped
            return oks[n]

        checks._probe = probe  # type: ignore[method-assign]  # the I/O; the rest is the mock's own loop
        task = asyncio.get_running_loop().create_task(checks.run(0.0))
        await done
        task.cancel()

    asyncio.run(play())
    assert len(snapshots) == rounds
    return snapshots


def _flips(snapshots: list[Snapshot]) -> list[tuple[int, int, bool]]:
    """(round, server, healthy now) for each change of a server's health."""
    out, before = [], (True,) * len(snapshots[0][0])
    for k, (health, _) in enumerate(snapshots):
        out += [(k, i, now) for i, (was, now) in enumerate(zip(before, health, strict=True)) if was != now]
        before = health
    return out


def test_health_checks_decide_the_same_in_the_simulator_and_the_mock() -> None:
    scenario = _health_scenario()
    oks, simulated = _simulated_health(scenario)
    mocked = _mock_health(scenario, oks)
    assert mocked == simulated
    flips = _flips(simulated)
    # round k probes at k + 1 s: a server crashed at 10 s fails at 10 and 11 s (down after two), and
    # once back at 30 s passes at 30, 31 and 32 s (up after three); flaps come and go over [40, 70)
    assert flips[:4] == [(10, 1, False), (15, 3, False), (31, 1, True), (36, 3, True)]
    assert {k for k, _, _ in flips[4:]} <= set(range(40, 72)) and len(flips) > 8
    assert simulated[12] == ((True, False, True, True), (0, 2, 3))
    assert simulated[20] == ((True, False, True, False), (0, 2))  # 2 of 4 usable: not below the panic share
    assert simulated[50] == ((False, False, False, False), (0, 1, 2, 3))  # none: panic, route to all


class FakeLoop:
    """A virtual clock for the mock's ``call_later``: what asyncio's loop would run, run by the test."""

    def __init__(self) -> None:
        self.now_s = 0.0
        self.due: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self.order = itertools.count()

    def call_later(self, delay_s: float, callback: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self.due, (self.now_s + delay_s, next(self.order), callback, args))

    def run_until(self, now_s: float) -> None:
        while self.due and self.due[0][0] <= now_s:
            at_s, _, callback, args = heapq.heappop(self.due)
            self.now_s = at_s
            callback(*args)
        self.now_s = now_s


Observation = tuple[float, int, int, tuple[bool, ...]]  # (time, server, code, every server ejected after it)


def _outlier_scenario() -> Scenario:
    return make_scenario(
        duration=120,
        workload={"rate": 3.0},
        clusters=[{"name": "c", "servers": 4, "slots": 1, "service": EXP}],
        router={"outlier_ejection": {"consecutive_5xx": 2, "base_ejection": 5, "max_ejected_fraction": 0.5}},
        faults=[
            {"kind": "error_rate", "target": "c/2", "fraction": 0.7, "at": 10, "until": 80},
            {"kind": "error_rate", "target": "c/0", "fraction": 0.5, "at": 30, "until": 60},
        ],
    )


def _simulated_answers(scenario: Scenario) -> list[Observation]:
    simulation = Simulation(scenario)
    kernel, servers = simulation.kernel, simulation.clusters[0].servers
    log: list[Observation] = []
    ejection = servers[0].outlier
    assert ejection is not None

    def observe(server: Server, code: int) -> None:
        assert ejection is not None
        ejection.observe(server, code)
        log.append((kernel.now, server.index, code, tuple(s.ejected for s in servers)))

    for server in servers:
        server.outlier = cast(Any, SimpleNamespace(observe=observe))
    simulation.run()
    return log


def test_outlier_ejection_decides_the_same_in_the_simulator_and_the_mock(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = _outlier_scenario()
    simulated = _simulated_answers(scenario)
    loop = FakeLoop()
    monkeypatch.setattr(detection, "asyncio", SimpleNamespace(get_running_loop=lambda: loop))
    spec = scenario.router.outlier_ejection
    assert spec is not None
    (cluster,) = routed_clusters(scenario, ["http://127.0.0.1:9"])
    cluster.outliers = outlier_ejection(spec, cluster, 1.0)  # the mock router's wiring, time scale 1
    mocked: list[Observation] = []
    for at_s, index, code, _ in simulated:
        loop.run_until(at_s)
        cluster.outliers.observe(cluster.views[index], code)
        mocked.append((at_s, index, code, tuple(v.ejected for v in cluster.views)))
    assert mocked == simulated
    ejected = [obs[3] for obs in simulated]
    assert any(e[2] for e in ejected) and any(e[0] for e in ejected)  # both failing servers were ejected
    assert not any(e[1] or e[3] for e in ejected)  # the healthy ones never
    assert not any(ejected[-1])  # all returned after the faults


def _loaded(clusters: list[Any], loads: list[list[int]]) -> None:
    for cluster, in_flight in zip(clusters, loads, strict=True):
        servers = cluster.servers if hasattr(cluster, "servers") else cluster.views
        for server, n in zip(servers, in_flight, strict=True):
            server.in_flight = n


@pytest.mark.parametrize("strategy", sorted(CLUSTER_CHOICES))
def test_cluster_choice_decides_the_same_in_the_simulator_and_the_mock(strategy: str) -> None:
    scenario = make_scenario(
        workload={"rate": 1.0, "classes": [{"name": "u", "region": "eu"}]},
        router={"cluster_strategy": strategy, "spill_threshold": 0.5},
        clusters=[
            {"name": "a", "servers": 2, "slots": 2, "region": "eu", "weight": 1},
            {"name": "b", "servers": 3, "slots": 1, "region": "us", "weight": 2},
        ],
    )
    simulation = Simulation(scenario)
    mocked: list[RoutedCluster] = routed_clusters(scenario, ["http://127.0.0.1:9", "http://127.0.0.1:10"])
    choice, mock_draws = CLUSTER_CHOICES[strategy], Draws(stream(scenario.seed, Stream.CLUSTER_CHOICE))
    sim_names, mock_names = [], []
    for loads in ([[0, 0], [0, 0, 0]], [[2, 1], [0, 1, 0]], [[2, 2], [1, 0, 0]], [[1, 0], [1, 1, 1]]):
        _loaded(simulation.clusters, loads)
        _loaded(mocked, loads)
        for _ in range(20):
            chosen = choose_cluster(choice, simulation.clusters, "eu", simulation.router.draws, 0.5)
            sim_names.append(None if chosen is None else chosen.spec.name)
            mine = choose_cluster(choice, mocked, "eu", mock_draws, 0.5)
            mock_names.append(None if mine is None else mine.name)
    assert mock_names == sim_names and set(sim_names) <= {"a", "b"}
