"""sim/engine/health.py alone: a HealthChecker probing servers of a stand-in cluster each interval,
and outlier ejection ending in simulated time; the exact probe verdicts, flips and routing refreshes
under a given fault."""

from __future__ import annotations

from typing import Any

from sim.engine.health import HealthChecker, outlier_ejection
from sim.engine.kernel import Kernel
from sim.engine.server import Server
from sim.rng import Draws, stream
from sim.scenario import HealthCheck, ServiceModel
from sim.scenario import OutlierEjection as OutlierEjectionSpec
from tests.engine_stubs import DET, ClusterStub, Finish, at, attempt, build_servers, spec


def checked(
    servers: int, check: HealthCheck, service: ServiceModel = DET
) -> tuple[Kernel, ClusterStub, list[Server], HealthChecker]:
    kernel = Kernel()
    cluster = ClusterStub(kernel, spec(service, servers=servers), Finish(kernel))
    made = build_servers(Server, kernel, cluster, servers)
    checker = HealthChecker(kernel, cluster, check, Draws(stream(1, "test-health")))
    kernel.env.process(checker.process())
    return kernel, cluster, made, checker


def watch(kernel: Kernel, server: Server, times_s: list[float]) -> list[tuple[float, bool, int, int]]:
    """(time, probed healthy, failures in a row, successes in a row) of ``server`` at each time."""
    seen: list[tuple[float, bool, int, int]] = []

    def look() -> None:
        seen.append((kernel.now, server.probed_healthy, server.probe_failures, server.probe_successes))

    for t in times_s:
        at(kernel, t, look)
    return seen


CHECK = HealthCheck(interval=2, timeout=0.5, unhealthy_threshold=3, healthy_threshold=2)


def test_a_crashed_server_is_marked_down_after_three_failed_probes_and_up_after_two_good_ones() -> None:
    kernel, cluster, (_, crashed), _ = checked(2, CHECK)
    at(kernel, 7.0, crashed.crash)
    at(kernel, 21.0, crashed.recover)
    seen = watch(kernel, crashed, [7.5, 11.0, 13.0, 23.0, 25.0])
    kernel.run(30.0)
    # probes every 2 s: fine at 2, 4, 6; fail at 8, 10, 12 (down at the third); fail at 14..20;
    # succeed at 22 and 24 (up at the second). Routing is refreshed at each flip, only then
    assert seen == [
        (7.5, True, 0, 3),
        (11.0, True, 2, 0),
        (13.0, False, 3, 0),
        (23.0, False, 0, 1),
        (25.0, True, 0, 2),
    ]
    assert cluster.refreshes == [12.0, 24.0]


def test_a_flap_fault_drops_every_probe_while_it_lasts() -> None:
    kernel, cluster, (flapping,), _ = checked(1, CHECK)
    at(kernel, 3.0, flapping.flap_fractions.append, 1.0)
    at(kernel, 9.0, flapping.flap_fractions.remove, 1.0)
    kernel.run(20.0)
    # dropped at 4, 6, 8 (down at 8); answered at 10, 12 (up at 12)
    assert cluster.refreshes == [8.0, 12.0]


def test_a_partition_fails_every_servers_probes_and_one_refresh_covers_them() -> None:
    kernel, cluster, servers, _ = checked(2, CHECK)

    def partition(on: bool) -> None:
        cluster.partitioned = 1 if on else 0

    at(kernel, 0.5, partition, True)
    at(kernel, 6.5, partition, False)
    kernel.run(12.0)
    assert cluster.refreshes == [6.0, 10.0]  # both down at the third probe, both up at the second after
    assert [s.probed_healthy for s in servers] == [True, True]


def test_an_overloaded_server_fails_probes_that_would_wait_past_the_timeout() -> None:
    slow = ServiceModel(kind="deterministic", mean=10.0)
    check = HealthCheck(interval=1, timeout=15, unhealthy_threshold=2, healthy_threshold=1)
    kernel, cluster, (server,), checker = checked(1, check, slow)
    for req in range(3):
        at(kernel, 0.0, server.accept, attempt(req))
    verdicts: list[tuple[float, bool]] = []
    for t in (5.5, 15.5, 25.5):
        at(kernel, t, lambda: verdicts.append((kernel.now, checker.probe(server))))
    kernel.run(26.0)
    # one slot, 10 s each: service [0, 10), [10, 20), [20, 30). A probe waits (queued + 1) x 10 s
    # when the slot is busy: 30 s until 10 and 20 s until 20 (> 15: fails); 10 s from 20 on (answers).
    # Down at the second failure (2.0), up at the first success (20.0)
    assert cluster.refreshes == [2.0, 20.0]
    assert verdicts == [(5.5, False), (15.5, False), (25.5, True)]


def test_outlier_ejection_ejects_a_server_on_its_errors_and_restores_it_after_the_hold() -> None:
    kernel = Kernel()
    finish = Finish(kernel)
    cluster = ClusterStub(kernel, spec(servers=2), finish)
    servers = build_servers(Server, kernel, cluster, 2)
    rule = OutlierEjectionSpec(consecutive_5xx=2, base_ejection=10, max_ejected_fraction=1.0)
    ejection = outlier_ejection(kernel, cluster, rule)
    failing = servers[0]
    failing.outlier = ejection
    failing.error_fractions = [(1.0, 0.5)]  # every answer a 500, 0.5 s after it starts
    for req, t in enumerate([0.0, 1.0, 13.0, 14.0]):
        at(kernel, t, failing.accept, attempt(req, t))
    states: list[Any] = []
    for t in (1.0, 2.0, 11.0, 12.0, 20.0, 40.0):
        at(kernel, t, lambda: states.append((kernel.now, failing.ejected)))
    kernel.run(50.0)
    # 500s at 0.5 and 1.5: ejected at 1.5 for 10 s (first ejection) -> back at 11.5. 500s at 13.5 and
    # 14.5: ejected again for 2 x 10 s -> back at 34.5. Routing refreshed at each change
    assert finish.rounded() == [(0.5, 0, 500), (1.5, 1, 500), (13.5, 2, 500), (14.5, 3, 500)]
    assert cluster.refreshes == [1.5, 11.5, 14.5, 34.5]
    assert states == [(1.0, False), (2.0, True), (11.0, True), (12.0, False), (20.0, True), (40.0, False)]
