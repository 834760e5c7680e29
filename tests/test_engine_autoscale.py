"""sim/engine/autoscale.py alone: an Autoscaler over stand-in servers whose load the test sets; its
launches, cold starts and retirements at exact times, and the healthy-server gauge."""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.engine.autoscale import Autoscaler
from sim.engine.kernel import Gauge, Kernel
from sim.scenario import Autoscale
from tests.engine_stubs import ClusterStub, Finish, at, spec


@dataclass
class Slot:
    """A server as the autoscaler sees it."""

    index: int
    provisioned: bool
    kernel: Kernel
    in_flight: int = 0
    slots: int = 1
    drained: bool = False
    up: bool = True
    pulls: list[float] = field(default_factory=list)

    def pull(self) -> None:
        self.pulls.append(self.kernel.now)


def scaled(rule: Autoscale) -> tuple[Kernel, ClusterStub, list[Slot], Gauge]:
    kernel = Kernel()
    cluster = ClusterStub(kernel, spec(servers=1, autoscale=rule), Finish(kernel))
    cluster.servers = servers = [Slot(i, i == 0, kernel) for i in range(rule.max_servers)]
    healthy = Gauge(1)
    scaler = Autoscaler(kernel, cluster, rule, 1, healthy)
    kernel.env.process(scaler.process())
    return kernel, cluster, servers, healthy


def provisioned(servers: list[Slot]) -> list[int]:
    return [s.index for s in servers if s.provisioned]


RULE = Autoscale(target_utilization=0.5, interval=10, cold_start=5, max_servers=4, scale_down_window=30)


def test_scale_up_after_cold_starts_and_down_to_the_windows_largest_recommendation() -> None:
    kernel, cluster, servers, healthy = scaled(RULE)
    servers[0].in_flight = 1  # one request in flight until 20.5, then none

    def idle() -> None:
        servers[0].in_flight = 0

    at(kernel, 20.5, idle)
    states: list[tuple[float, list[int]]] = []
    for t in (14.0, 16.0, 24.0, 26.0, 49.0, 51.0):
        at(kernel, t, lambda: states.append((kernel.now, provisioned(servers))))
    kernel.run(60.0)
    # samples each second. t=10: utilisation 1/1 -> desired ceil(1 x 1 / 0.5) = 2: server 1 starts, ready
    #   at 15 (cold start 5).
    # t=20: samples at 11..14 see 1/1, at 15..20 see 1/2: mean (4 + 6 x 0.5) / 10 = 0.7 ->
    #   ceil(2 x 0.7 / 0.5) = 3: server 2 starts, ready at 25.
    # t=30, 40: idle -> desired 1, but the last 30 s recommended 3 (at 20): no scale-down.
    # t=50: the window (20, 50] holds 1, 1, 1: retire the two newest extras, servers 2 and 1.
    assert states == [(14.0, [0]), (16.0, [0, 1]), (24.0, [0, 1]), (26.0, [0, 1, 2]), (49.0, [0, 1, 2]), (51.0, [0])]
    assert cluster.refreshes == [15.0, 25.0, 50.0]
    assert [s.pulls for s in servers] == [[], [15.0], [25.0], []]  # a new server takes waiting work at once
    assert healthy.value == 1 and healthy.take_area(60.0) == 1 * 15 + 2 * 10 + 3 * 25 + 1 * 10


def test_scale_up_stops_at_max_servers() -> None:
    kernel, cluster, servers, healthy = scaled(RULE)
    servers[0].in_flight = 10
    kernel.run(30.0)
    # desired ceil(1 x 10 / 0.5) = 20, capped at 4: three start at 10, ready at 15; at 20 and 30
    # nothing more (4 active, none idle)
    assert provisioned(servers) == [0, 1, 2, 3] and cluster.refreshes == [15.0, 15.0, 15.0]
    assert healthy.value == 4


def test_a_server_down_when_it_becomes_ready_does_not_count_healthy() -> None:
    kernel, cluster, servers, healthy = scaled(RULE)
    servers[0].in_flight = 1
    servers[1].up = False  # a crash fault holds it
    kernel.run(16.0)
    assert provisioned(servers) == [0, 1] and healthy.value == 1 and cluster.refreshes == [15.0]
