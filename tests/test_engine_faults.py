"""sim/engine/faults.py alone: which servers a fault hits, and its process applying and lifting its
effect at exact times on a Cluster's servers (the kinds' own effects are in sim/faults/)."""

from __future__ import annotations

from typing import Any

from sim.engine.cluster import Cluster
from sim.engine.faults import fault_servers, start_faults, target_indices
from sim.engine.kernel import Gauge, Kernel
from sim.rng import Stream, stream
from sim.scenario import Scenario
from tests.conftest import make_scenario
from tests.engine_stubs import Finish, at, attempt

DET = {"kind": "deterministic", "mean": 1.0}


class RouterSlots:
    """The router as a router_saturation fault sees it: notes each (time, factor, active)."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.calls: list[tuple[float, float, bool]] = []

    def saturate(self, factor: float, active: bool) -> None:
        self.calls.append((self.kernel.now, factor, active))


def scenario(faults: list[dict[str, Any]], servers: int = 2, **cluster: Any) -> Scenario:
    return make_scenario(
        clusters=[{"name": "c", "servers": servers, "service": DET, **cluster}],
        router={"concurrency": 4},
        faults=faults,
        duration=30,
    )


def started(sc: Scenario) -> tuple[Kernel, Finish, Cluster, RouterSlots, Gauge]:
    kernel = Kernel()
    finish = Finish(kernel)
    cluster = Cluster(kernel, sc.clusters[0], sc.router, 0, 0, 1, finish)
    router = RouterSlots(kernel)
    healthy = Gauge(sc.clusters[0].servers)
    start_faults(kernel, list(sc.faults), [cluster], router, 1, healthy)  # type: ignore[arg-type]
    return kernel, finish, cluster, router, healthy


def test_the_servers_a_fault_hits() -> None:
    sc = make_scenario(
        clusters=[
            {"name": "a", "servers": 4},
            {"name": "b", "servers": 2, "autoscale": {"max_servers": 5}},
        ],
        faults=[
            {"kind": "crash", "target": "b/1", "at": 1, "duration": 1},
            {"kind": "partition", "target": "b", "at": 1, "duration": 1},
            {"kind": "crash", "target": "a", "fraction": 0.5, "at": 1, "duration": 1},
            {"kind": "drain", "target": "a", "fraction": 0.75, "at": 1, "duration": 1},
            {"kind": "crash", "target": "b", "fraction": 1.0, "at": 1, "duration": 1},
        ],
    )
    one, whole, half, drain, spare = sc.faults
    specs = list(sc.clusters)
    assert target_indices(one, specs, 7, 0) == (1, [1])
    assert target_indices(whole, specs, 7, 1) == (1, [0, 1, 2, 3, 4])  # a partition: every server, spare ones too
    # a fraction: ceil(0.5 x 4) = 2 servers, the first of the fault's own permutation (the mock draws
    # the same), sorted; a drain keeps the drawn order (its retirement schedule)
    position, chosen = target_indices(half, specs, 7, 2)
    assert position == 0 and chosen == sorted(stream(7, Stream.FAULT_TARGETS, 2).permutation(4)[:2].tolist())
    assert target_indices(drain, specs, 7, 3) == (0, stream(7, Stream.FAULT_TARGETS, 3).permutation(4)[:3].tolist())
    assert target_indices(spare, specs, 7, 4) == (1, [0, 1])  # never the autoscaler's room


def test_crash_slowdown_and_saturation_apply_and_lift_at_their_times() -> None:
    sc = scenario(
        [
            {"kind": "slowdown", "target": "c/1", "at": 1, "duration": 10, "factor": 2},
            {"kind": "crash", "target": "c/0", "at": 2, "duration": 3},
            {"kind": "router_saturation", "target": "router", "at": 4, "duration": 2, "factor": 0.5},
        ]
    )
    kernel, finish, cluster, router, healthy = started(sc)
    first, second = cluster.servers
    assert [fault_servers(f, [cluster], 1, n) for n, f in enumerate(sc.faults)] == [[second], [first], []]
    for req, server, t in [(0, first, 1.5), (1, second, 0.5), (2, second, 3.0), (3, first, 3.0)]:
        at(kernel, t, server.accept, attempt(req, t))
    for req, server, t in [(4, first, 6.0), (5, second, 12.0)]:
        at(kernel, t, server.accept, attempt(req, t))
    routable: list[tuple[float, list[int]]] = []
    for t in (3.0, 6.0):
        at(kernel, t, lambda: routable.append((kernel.now, [s.index for s in cluster.routable])))
    kernel.run(14.0)
    # 1 on server 1 started before the slowdown: 1 s. 0 on server 0 is in service at the crash (2.0):
    # 500 at once. 3 finds server 0 down: 503. 2 on server 1 is slowed 2 x: [3, 5). Server 0 is back at
    # 5: 4 serves [6, 7). The slowdown ends at 11: 5 serves [12, 13) again in 1 s
    assert finish.trace == [(1.5, 1, 200), (2.0, 0, 500), (3.0, 3, 503), (5.0, 2, 200), (7.0, 4, 200), (13.0, 5, 200)]
    assert routable == [(3.0, [1]), (6.0, [0, 1])]
    assert router.calls == [(4.0, 0.5, True), (6.0, 0.5, False)]
    assert healthy.take_area(14.0) == 2 * 2 + 1 * 3 + 2 * 9  # one server down over [2, 5)


def test_a_crash_with_lost_requests_tells_nobody() -> None:
    sc = scenario([{"kind": "crash", "target": "c/0", "at": 0.5, "duration": 1, "in_flight": "lost"}], servers=1)
    kernel, finish, cluster, _, _ = started(sc)
    at(kernel, 0.0, cluster.servers[0].accept, attempt(0))
    kernel.run(5.0)
    assert finish.trace == [(0.5, 0, 0)]  # code 0: the client will time out


def test_a_drain_retires_its_servers_one_by_one_over_its_window() -> None:
    sc = scenario([{"kind": "drain", "target": "c", "fraction": 1.0, "at": 10, "until": 20}], servers=3)
    kernel, _, cluster, _, _ = started(sc)
    order = target_indices(sc.faults[0], [sc.clusters[0]], 1, 0)[1]
    routable: list[list[int]] = []
    for t in (9.0, 11.0, 16.0, 21.0):
        at(kernel, t, lambda: routable.append([s.index for s in cluster.routable]))
    kernel.run(30.0)
    # 3 servers over [10, 20]: one at 10, 15 and 20, in the drawn order
    assert routable == [[0, 1, 2], [i for i in range(3) if i not in order[:1]], [order[2]], []]
