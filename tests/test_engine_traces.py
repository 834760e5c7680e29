"""Tiny hand-made traces with exact expectations (deterministic service, fixed arrival times)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sim.engine import SimResult, Simulation
from sim.engine.attempt import NATIVE
from sim.workload.trace import Trace
from tests.conftest import in_pure_python, make_scenario

DET = {"kind": "deterministic", "mean": 1.0}


def run(arrivals: list[float], **fields: Any) -> SimResult:
    fields.setdefault("clusters", [{"name": "c", "servers": 1, "service": DET}])
    fields.setdefault("duration", 10)
    fields.setdefault("drain", 10)
    return Simulation(make_scenario(**fields), trace=Trace.from_arrivals(arrivals)).run()


def attempts_of(result: SimResult) -> list[tuple[Any, ...]]:
    a = result.attempts
    cols = ("req", "number", "code", "sent_s", "start_s", "end_s", "server_end_s")
    return [
        tuple(round(float(a[c][i]), 6) if c.endswith("_s") else int(a[c][i]) for c in cols)
        for i in range(len(a["req"]))
    ]


def test_fcfs_single_server() -> None:
    result = run([0.0, 0.5, 3.0])
    assert result.req_code.tolist() == [200, 200, 200]
    assert (result.req_end_s - result.arrival_s).tolist() == [1.0, 1.5, 1.0]
    a = result.attempts
    assert (a["start_s"] - a["sent_s"]).tolist() == [0.0, 0.5, 0.0]


def test_full_waiting_room_answers_503() -> None:
    clusters = [{"name": "c", "servers": 1, "queue_limit": 0, "service": DET}]
    result = run([0.0, 0.5, 1.5], clusters=clusters)
    assert result.req_code.tolist() == [200, 503, 200]
    assert np.isnan(result.attempts["start_s"][1])
    assert result.attempts["end_s"][1] == 0.5


def test_timeout_gives_504_and_the_server_still_works() -> None:
    result = run([0.0], clients={"timeout": 0.8})
    assert result.req_code.tolist() == [504]
    assert attempts_of(result) == [(0, 1, 504, 0.0, 0.0, 0.8, 1.0)]


def test_cancel_on_timeout_frees_the_server() -> None:
    result = run([0.0, 0.1], clients={"timeout": 0.8, "cancel_on_timeout": True})
    rows = attempts_of(result)
    assert rows[0] == (0, 1, 504, 0.0, 0.0, 0.8, 0.8)
    # the second request starts when the first is cancelled, not when it would have finished,
    # and is itself cancelled in service at its own timeout
    assert rows[1] == (1, 1, 504, 0.1, 0.8, 0.9, 0.9)


def test_queued_attempt_abandoned_without_cancel_is_still_served() -> None:
    result = run([0.0, 0.1], clients={"timeout": 1.5})
    rows = attempts_of(result)
    assert rows[1] == (1, 1, 504, 0.1, 1.0, 1.6, 2.0)


def test_retries_with_constant_backoff_and_errors() -> None:
    faults = [{"kind": "error_rate", "target": "c", "at": 0, "duration": 100, "fraction": 1.0, "error_latency": 0.01}]
    clients = {"retries": {"max": 2, "backoff": "constant", "base": 1.0, "jitter": "none"}}
    result = run([0.0], faults=faults, clients=clients, duration=20)
    assert [(r[1], r[2], r[3], r[5]) for r in attempts_of(result)] == [
        (1, 500, 0.0, 0.01),
        (2, 500, 1.01, 1.02),
        (3, 500, 2.02, 2.03),
    ]
    assert result.req_code.tolist() == [500] and result.req_attempts.tolist() == [3]


def test_exponential_backoff_doubles_up_to_cap() -> None:
    faults = [{"kind": "error_rate", "target": "c", "at": 0, "duration": 100, "fraction": 1.0, "error_latency": 0}]
    clients = {"retries": {"max": 4, "backoff": "exponential", "base": 0.5, "cap": 1.5, "jitter": "none"}}
    result = run([0.0], faults=faults, clients=clients, duration=20)
    assert result.attempts["sent_s"].tolist() == [0.0, 0.5, 1.5, 3.0, 4.5]


def test_only_listed_codes_are_retried() -> None:
    clusters = [{"name": "c", "servers": 1, "queue_limit": 0, "service": DET}]
    clients = {"retries": {"max": 3, "backoff": "none", "on": [500]}}
    result = run([0.0, 0.5], clusters=clusters, clients=clients)
    assert result.req_code.tolist() == [200, 503]
    assert result.req_attempts.tolist() == [1, 1]


def test_router_capacity_answers_503() -> None:
    clusters = [{"name": "c", "servers": 4, "service": DET}]
    result = run([0.0, 0.0, 0.5, 1.5], clusters=clusters, router={"instances": 1, "concurrency": 2})
    assert result.req_code.tolist() == [200, 200, 503, 200]


def test_router_overhead_adds_to_latency() -> None:
    result = run([0.0], router={"overhead": 0.005})
    assert result.req_end_s.tolist() == [pytest.approx(1.005)]


def test_round_robin_visits_servers_in_turn() -> None:
    clusters = [{"name": "c", "servers": 3, "service": DET}]
    result = run([0.0, 0.1, 0.2, 0.3], clusters=clusters, router={"strategy": "round_robin"})
    assert result.attempts["server"].tolist() == [0, 1, 2, 0]


def test_least_connections_avoids_the_busy_server() -> None:
    clusters = [{"name": "c", "servers": 2, "service": DET}]
    result = run([0.0, 0.1, 1.05], clusters=clusters, router={"strategy": "least_connections"})
    servers = result.attempts["server"].tolist()
    assert servers[0] != servers[1]
    assert servers[2] == servers[0]
    assert result.attempts["start_s"].tolist() == [0.0, 0.1, 1.05]


def test_central_queue_hands_work_to_the_first_free_slot() -> None:
    clusters = [{"name": "c", "servers": 2, "service": DET}]
    result = run([0.0, 0.5, 0.6, 0.7], clusters=clusters, router={"strategy": "central_queue"})
    assert result.attempts["start_s"].tolist() == [0.0, 0.5, 1.0, 1.5]


def test_crash_fails_requests_in_flight_and_recovery_serves_again() -> None:
    faults = [{"kind": "crash", "target": "c", "at": 0.5, "duration": 1.0}]
    result = run([0.0, 0.2, 1.0, 2.0], faults=faults)
    # in service and queued at the crash: 500; during it no server is routable: 503
    assert result.req_code.tolist() == [500, 500, 503, 200]
    assert result.req_end_s.tolist()[:3] == [0.5, 0.5, 1.0]


def test_slowdown_multiplies_service_time() -> None:
    faults = [{"kind": "slowdown", "target": "c/0", "at": 0, "duration": 5, "factor": 3}]
    result = run([0.0, 6.0], faults=faults)
    assert (result.req_end_s - result.arrival_s).tolist() == [3.0, 1.0]


def test_overlapping_faults_compose() -> None:
    faults = [
        {"kind": "slowdown", "target": "c", "at": 0, "duration": 10, "factor": 2},
        {"kind": "slowdown", "target": "c/0", "at": 0, "duration": 10, "factor": 3},
        {"kind": "crash", "target": "c", "at": 20, "duration": 10},
        {"kind": "crash", "target": "c/0", "at": 25, "duration": 10},
    ]
    result = run([0.0, 31.0, 36.0], faults=faults, duration=40)
    assert result.req_code.tolist() == [200, 503, 200]
    assert result.req_end_s[0] == 6.0


def test_requests_still_running_at_the_end_are_in_flight() -> None:
    result = run([0.0, 9.5], drain=0)
    assert result.req_code.tolist() == [200, 0]
    assert result.attempts["code"].tolist() == [200, 0]


def test_class_work_scales_service_time() -> None:
    trace = Trace(
        np.array([0.0, 2.0]),
        np.array([0, 1], dtype=np.int32),
        np.arange(2),
        ("s", "l"),
        (None, None),
        (1.0, 4.0),
        (None, None),
        (0, 0),
    )
    sc = make_scenario(duration=10, drain=10, clusters=[{"name": "c", "servers": 1, "service": DET}])
    result = Simulation(sc, trace=trace).run()
    assert (result.req_end_s - result.arrival_s).tolist() == [1.0, 4.0]


def test_a_timeout_while_connecting_to_a_partitioned_cluster_cancels_once() -> None:
    # the client gives up at 1.5 (cancel_on_timeout) while the router waits for the connect timeout
    # (due at 2.0): one record, 504; after the partition the next request is served
    faults = [{"kind": "partition", "target": "c", "at": 0, "duration": 5}]
    clients = {"timeout": 0.5, "cancel_on_timeout": True}
    result = run([1.0, 7.0], faults=faults, clients=clients, router={"connect_timeout": 1.0})
    assert result.req_code.tolist() == [504, 504]
    rows = attempts_of(result)
    assert [row[:4] + row[5:] for row in rows] == [(0, 1, 504, 1.0, 1.5, 1.5), (1, 1, 504, 7.0, 7.5, 7.5)]
    assert np.isnan(rows[0][4]) and rows[1][4] == 7.0  # never reached a server; the second did


def test_arrivals_tied_with_every_kind_of_event_keep_the_heaps_order(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """Open-loop arrivals wait beside the kernel's heap: the same run as with every arrival in the heap.

    Whole-second arrivals (several at one instant) tie with 1 s services ending, 1 s timeouts firing,
    1 s backoffs, window ends and fault starts; least connections and small waiting rooms make the
    order of any two tied events visible in the records.
    """
    if NATIVE:
        in_pure_python(request)
        return
    arrivals = [0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0, 4.0, 5.0, 5.0, 6.0, 6.0, 6.0, 7.0]
    fields: dict[str, Any] = {
        "clusters": [{"name": "c", "servers": 2, "slots": 1, "queue_limit": 1, "service": DET}],
        "router": {"strategy": "least_connections"},
        "clients": {
            "timeout": 1.0,
            "retries": {"max": 2, "backoff": "constant", "base": 1.0, "jitter": "none", "on": [500, 503, 504]},
        },
        "faults": [{"kind": "crash", "target": "c/0", "at": 3, "duration": 2}],
        "window": 1,
    }
    merged = run(arrivals, **fields)
    from sim.engine.kernel import Kernel

    monkeypatch.setattr(Kernel, "call_arrival", Kernel.call_at)
    in_heap = run(arrivals, **fields)
    assert len(merged.attempts["req"]) > len(arrivals)  # retries too
    for name, column in in_heap.attempts.items():
        assert np.array_equal(merged.attempts[name], column, equal_nan=True), name
    assert merged.req_code.tolist() == in_heap.req_code.tolist()
    assert set(merged.req_code.tolist()) > {200}  # the ties decide something: not every request succeeds
    assert merged.events == in_heap.events


@pytest.mark.parametrize("strategy", ["least_connections", "central_queue"])
def test_a_lone_cluster_taking_attempts_from_the_router_itself_changes_nothing(
    strategy: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """The router's common case (one cluster, no slots to hold) calls the cluster directly: same records as its
    general path through crashes (no server routable), a partition and errors."""
    if NATIVE:
        in_pure_python(request)
        return
    arrivals = [0.125 * k for k in range(160)]
    fields: dict[str, Any] = {
        "clusters": [{"name": "c", "servers": 3, "slots": 2, "queue_limit": 2, "service": DET}],
        "router": {"strategy": strategy},
        "clients": {"timeout": 1.5, "retries": {"max": 1, "backoff": "constant", "base": 0.5, "jitter": "none"}},
        "faults": [
            {"kind": "crash", "target": "c", "at": 2, "duration": 2},
            {"kind": "partition", "target": "c", "at": 6, "duration": 3},
            {"kind": "error_rate", "target": "c", "at": 11, "duration": 4, "fraction": 0.5},
        ],
        "duration": 20,
    }
    routed = run(arrivals, **fields)
    from sim.engine.cluster import Cluster

    monkeypatch.setattr(Cluster, "routed_submit", lambda self: None)
    general = run(arrivals, **fields)
    for name, column in general.attempts.items():
        assert np.array_equal(routed.attempts[name], column, equal_nan=True), name
    assert routed.req_code.tolist() == general.req_code.tolist()
    assert {200, 500, 503, 504} <= set(routed.attempts["code"].tolist())  # every path was taken
