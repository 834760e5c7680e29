"""Fault kinds, health checks, outlier ejection and panic routing, on tiny exact traces."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sim.analysis.metrics import summarize, timeseries
from sim.engine import SimResult, Simulation, simulate
from sim.scenario.loading import ScenarioError, load_scenario
from sim.scenario.paths import scenarios_dir
from sim.workload.trace import Trace
from tests.conftest import known, make_scenario

DET = {"kind": "deterministic", "mean": 1.0}


def run(arrivals: list[float] | np.ndarray, servers: int = 2, **fields: Any) -> SimResult:
    fields.setdefault("clusters", [{"name": "c", "servers": servers, "service": DET}])
    fields.setdefault("duration", 60)
    fields.setdefault("drain", 10)
    fields.setdefault("window", 5)
    return Simulation(make_scenario(**fields), trace=Trace.from_arrivals(arrivals)).run()


def test_health_checks_take_interval_x_threshold_to_notice_a_crash() -> None:
    """Probes every 5 s, 2 failures to mark unhealthy: a crash at 10 s is noticed at 15 s."""
    router = {"strategy": "round_robin", "health_check": {"interval": 5, "unhealthy_threshold": 2}}
    faults = [{"kind": "crash", "target": "c/0", "at": 10, "duration": 100}]
    result = run([11.0, 12.0, 13.0, 14.0, 16.0, 17.0, 18.0], router=router, faults=faults)
    assert result.req_code.tolist() == [503, 200, 503, 200, 200, 200, 200]
    assert result.attempts["server"].tolist()[4:] == [1, 1, 1]
    series = timeseries(result)
    assert series["healthy_servers"][2] == 1.0  # [10, 15): server 0 is down...
    assert series["routable_servers"][2] == 2.0  # ...but still routed to
    assert series["routable_servers"][3] == 1.0


def test_without_health_checks_the_router_sees_crashes_at_once() -> None:
    faults = [{"kind": "crash", "target": "c/0", "at": 10, "duration": 100}]
    result = run([11.0, 12.0, 13.0], router={"strategy": "round_robin"}, faults=faults)
    assert result.req_code.tolist() == [200, 200, 200]


def test_health_checks_eject_overloaded_servers() -> None:
    """One slot, no waiting-room cap: 5 queued x 1 s exceeds the 1 s probe timeout, so the loaded
    server fails its probes and leaves the pool (the seed of a health-check cascade)."""
    router = {"strategy": "round_robin", "health_check": {"interval": 2, "timeout": 1, "unhealthy_threshold": 1}}
    result = run([0.0] * 10, servers=1, router=router, duration=20)
    series = timeseries(result)
    assert series["routable_servers"][0] < 1.0


def test_outlier_ejection_removes_a_fast_failing_server() -> None:
    router = {
        "strategy": "round_robin",
        "outlier_ejection": {"consecutive_5xx": 3, "base_ejection": 30, "max_ejected_fraction": 0.5},
    }
    faults = [{"kind": "error_rate", "target": "c/0", "at": 0, "duration": 100, "fraction": 1.0, "error_latency": 0}]
    result = run(np.arange(0.0, 20.0, 0.5), servers=4, router=router, faults=faults)
    servers = result.attempts["server"]
    assert int(np.sum(servers == 0)) == 3  # three 500s, then ejected for 30 s
    series = timeseries(result)
    assert series["ejected_servers"][1] == 1.0 and series["routable_servers"][1] == 3.0


def test_panic_threshold_routes_to_every_server() -> None:
    router = {
        "strategy": "round_robin",
        "health_check": {"interval": 1, "unhealthy_threshold": 1},
        "panic_threshold": 0.5,
    }
    faults = [{"kind": "crash", "target": "c", "at": 5, "duration": 100, "fraction": 0.75}]
    result = run([10.0, 11.0, 12.0, 13.0], servers=4, router=router, faults=faults)
    assert sorted(result.attempts["server"].tolist()) == [0, 1, 2, 3]  # 1 of 4 healthy < 50%: all used
    assert sorted(result.req_code.tolist()) == [200, 503, 503, 503]


def test_partition_fails_after_the_connect_timeout() -> None:
    router = {"connect_timeout": 0.5}
    faults = [{"kind": "partition", "target": "c", "at": 5, "duration": 10}]
    result = run([1.0, 6.0, 20.0], router=router, faults=faults)
    assert result.req_code.tolist() == [200, 503, 200]
    assert result.req_end_s.tolist() == [2.0, 6.5, 21.0]


def test_drain_retires_servers_one_by_one_and_for_good() -> None:
    faults = [{"kind": "drain", "target": "c", "at": 10, "duration": 10, "fraction": 0.5}]
    series = timeseries(run([0.5], servers=4, faults=faults, duration=40))
    assert series["routable_servers"].tolist() == [4.0, 4.0, 3.0, 3.0, 2.0, 2.0, 2.0, 2.0]
    assert series["healthy_servers"].tolist() == [4.0] * 8  # drained servers are up, just not routed to


def test_router_saturation_cuts_capacity() -> None:
    router = {"instances": 1, "concurrency": 4}
    faults = [{"kind": "router_saturation", "target": "router", "at": 10, "duration": 10, "factor": 0.5}]
    result = run([0.0] * 4 + [10.0] * 4, servers=8, router=router, faults=faults)
    assert result.req_code.tolist() == [200] * 4 + [200, 200, 503, 503]


def test_healthcheck_flap_marks_healthy_servers_unhealthy() -> None:
    router = {"strategy": "round_robin", "health_check": {"interval": 1, "unhealthy_threshold": 1}}
    faults = [{"kind": "healthcheck_flap", "target": "c", "at": 5, "duration": 20, "fraction": 1.0}]
    series = timeseries(run([0.0], router=router, faults=faults, duration=40))
    assert series["routable_servers"][2] == 0.0 and series["healthy_servers"][2] == 2.0


def test_crash_can_lose_requests_so_clients_time_out() -> None:
    faults = [{"kind": "crash", "target": "c", "at": 0.5, "duration": 10, "in_flight": "lost"}]
    result = run([0.0], servers=1, faults=faults, clients={"timeout": 3})
    assert result.req_code.tolist() == [504] and result.req_end_s.tolist() == [3.0]


@pytest.mark.parametrize(
    ("fault", "line"),
    [
        (
            {"kind": "router_saturation", "target": "c", "at": 1, "duration": 1, "factor": 0.5},
            "faults.0.target: router_saturation targets 'router' and only it does (got 'c')",
        ),
        (
            {"kind": "router_saturation", "target": "router", "at": 1, "duration": 1, "factor": 0.5},
            "faults.0: router_saturation needs a finite router.concurrency to cut",
        ),
        (
            {"kind": "healthcheck_flap", "target": "c", "at": 1, "duration": 1},
            "faults.0: healthcheck_flap needs router.health_check",
        ),
        (
            {"kind": "crash", "target": "router", "at": 1, "duration": 1},
            "faults.0.target: router_saturation targets 'router' and only it does (got 'router')",
        ),
    ],
)
def test_fault_checks(fault: dict[str, Any], line: str) -> None:
    with pytest.raises(ScenarioError) as info:
        make_scenario(faults=[fault])
    assert info.value.lines == [f"test.yaml: {line}"]


def test_gray_failure_least_connections_routes_around_a_slow_server() -> None:
    path = scenarios_dir() / "gray-failure.yaml"
    availability = {
        s: known(summarize(simulate(load_scenario(path, [f"router.strategy={s}"]))).availability)
        for s in ("round_robin", "least_connections")
    }
    assert availability["round_robin"] < 0.97
    assert availability["least_connections"] > 0.998


def test_healthcheck_cascade_and_the_panic_threshold() -> None:
    path = scenarios_dir() / "healthcheck-cascade.yaml"
    cascade = simulate(load_scenario(path))
    series = timeseries(cascade)
    after_surge = series["start_s"] >= 25 * 60
    assert series["routable_servers"][after_surge].max() <= 5  # most of the pool stays out of rotation
    assert known(summarize(cascade, series).availability) < 0.7
    panic = summarize(simulate(load_scenario(path, ["router.panic_threshold=0.5"])))
    assert known(panic.availability) > 0.999


def test_autoscaler_adds_servers_after_the_cold_start() -> None:
    """10 servers (1 s deterministic service) at 5/s, then 20/s from 600 s: evaluations every 30 s,
    a 60 s cold start, target 70% utilisation, at most 40 servers."""
    workload = {"rate": 5, "profile": [{"at": 0, "rate": 5}, {"at": 599, "rate": 5}, {"at": 600, "rate": 20}]}
    autoscale = {"target_utilization": 0.7, "interval": 30, "cold_start": 60, "max_servers": 40}
    clusters = [{"name": "c", "servers": 10, "service": DET, "autoscale": autoscale}]
    scenario = make_scenario(
        duration=1500, window=30, workload=workload, clusters=clusters, router={"strategy": "least_connections"}
    )
    series = timeseries(simulate(scenario, 1))
    before = series["start_s"] < 600
    assert series["routable_servers"][before].max() == 10.0  # never below the initial size, no need to grow
    assert series["routable_servers"][series["start_s"] < 660].max() <= 10.0  # the cold start delays growth
    assert 25 <= series["routable_servers"][-1] <= 40  # 20/s at 1 s each needs 20 busy slots at 70%: 29
    assert series["healthy_servers"][-1] == series["routable_servers"][-1]


def test_autoscale_needs_room_to_grow() -> None:
    clusters = [{"name": "c", "servers": 10, "autoscale": {"max_servers": 5}}]
    with pytest.raises(ScenarioError) as info:
        make_scenario(clusters=clusters)
    assert info.value.lines == ["test.yaml: clusters.0.autoscale.max_servers: must be at least servers, 10 (got 5)"]


def test_failover_to_another_region_pays_the_cross_region_latency() -> None:
    clusters = [
        {"name": "us", "servers": 2, "region": "us", "service": DET},
        {"name": "eu", "servers": 2, "region": "eu", "service": DET},
    ]
    router = {"cluster_strategy": "region_spillover", "cross_region_latency": 0.1}
    workload = {"rate": 1, "classes": [{"name": "us-users", "region": "us"}]}
    faults = [{"kind": "crash", "target": "us", "at": 10, "duration": 20}]
    scenario = make_scenario(
        duration=60, drain=10, window=5, workload=workload, clusters=clusters, router=router, faults=faults
    )
    trace = Trace(
        np.array([5.0, 15.0, 40.0]),
        np.zeros(3, dtype=np.int32),
        np.arange(3),
        ("us-users",),
        (None,),
        (1.0,),
        ("us",),
        (0,),
    )
    result = Simulation(scenario, trace=trace).run()
    assert result.req_code.tolist() == [200, 200, 200]
    assert result.attempts["cluster"].tolist() == [0, 1, 0]  # home, the other region while home is down, home
    assert (result.req_end_s - result.arrival_s).tolist() == pytest.approx([1.0, 1.1, 1.0])
