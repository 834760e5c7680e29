"""Overload controls at the client: retry arithmetic, budgets, token buckets, adaptive throttling;
service time that grows with concurrency."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sim.analysis.metrics import summarize, timeseries
from sim.engine import Simulation, simulate
from sim.scenario.loading import ScenarioError, load_scenario
from sim.scenario.paths import scenarios_dir
from sim.workload.trace import Trace
from tests.conftest import make_scenario, run_summary

ALL_FAIL = [{"kind": "error_rate", "target": "c", "at": 0, "duration": 10000, "fraction": 1.0}]


def amplification(retries: dict[str, Any]) -> float:
    scenario = make_scenario(
        duration=2000,
        workload={"rate": 20},
        clusters=[{"name": "c", "servers": 10}],
        faults=ALL_FAIL,
        clients={"retries": {"max": 3, "backoff": "none", **retries}},
    )
    return float(run_summary(scenario)[1]["retry_amplification"])


def test_all_attempts_failing_with_n_retries_makes_n_plus_one_attempts() -> None:
    assert amplification({}) == pytest.approx(4.0, abs=0.01)


def test_a_ten_percent_retry_budget_caps_amplification_near_1_1() -> None:
    assert amplification({"budget": {"ratio": 0.1}}) <= 1.11


def test_grpc_token_bucket_stops_retries_when_everything_fails() -> None:
    """Ten failures drain the bucket below half: retries stop after the first few."""
    assert amplification({"throttle": {"max_tokens": 10, "token_ratio": 0.1}}) == pytest.approx(1.0, abs=0.001)


def test_adaptive_throttling_sends_about_k_times_what_the_backend_accepts() -> None:
    """Offered 100/s to a backend that accepts about 5/s: the backend receives about K = 2 times that."""
    scenario = make_scenario(
        duration=2000,
        warmup=300,
        workload={"rate": 100},
        clusters=[{"name": "c", "servers": 10, "queue_limit": 0}],
        clients={"adaptive_throttling": {"k": 2, "window": 60}},
    )
    result, summary = run_summary(scenario)
    a = result.attempts
    measured = a["sent_s"] >= 300
    reached_backend = np.sum(measured & (a["code"] != 429))
    accepted = np.sum(measured & (a["code"] == 200))
    assert reached_backend / accepted == pytest.approx(2.0, rel=0.05)
    assert summary["errors_by_code"]["429"] > summary["errors_by_code"]["503"]


def test_service_time_grows_with_concurrency_as_configured() -> None:
    curve = [[1, 1.0], [3, 2.0]]
    clusters = [
        {
            "name": "c",
            "servers": 1,
            "slots": 4,
            "service": {"kind": "deterministic", "mean": 1.0, "concurrency_curve": curve},
        }
    ]
    scenario = make_scenario(duration=10, drain=20, clusters=clusters)
    result = Simulation(scenario, trace=Trace.from_arrivals([0.0, 0.0, 0.0, 0.0])).run()
    # started at concurrency 1, 2, 3, 4: factors 1, 1.5, 2, 2 (flat past the last point)
    assert sorted((result.attempts["server_end_s"] - result.attempts["start_s"]).tolist()) == [1.0, 1.5, 2.0, 2.0]


@pytest.mark.parametrize(
    ("curve", "message"),
    [([[2, 1.0], [1, 2.0]], "must increase"), ([[0, 1.0]], "concurrency >= 1"), ([], "at least one")],
)
def test_bad_concurrency_curves_are_refused(curve: list[list[float]], message: str) -> None:
    clusters = [{"name": "c", "servers": 1, "service": {"concurrency_curve": curve}}]
    with pytest.raises(ScenarioError, match=message) as info:
        make_scenario(clusters=clusters)
    assert info.value.lines[0].startswith("test.yaml: clusters.0.service.concurrency_curve: ")


def test_short_spike_without_backoff_stays_collapsed_and_jittered_backoff_recovers() -> None:
    """scenarios/retry-storm.yaml: 10 servers x 16 slots, service time x1 alone to x3 at 16 at once,
    20 requests/s, a 10x spike for 5 s at 10 min, client timeout 3 s, users' deadline 10 s, up to 3
    retries, servers finish abandoned work. Immediate retries: goodput in the last 5 minutes stays
    under 5% of the offered rate. Exponential backoff (base 4 s, full jitter): above 90%."""
    path = scenarios_dir() / "retry-storm.yaml"

    def late_goodput(backoff: str) -> tuple[float, Any]:
        result = simulate(load_scenario(path, [f"clients.retries.backoff={backoff}"]))
        series = timeseries(result)
        late = series["start_s"] >= result.scenario.duration - 300
        return float(series["succeeded"][late].sum() / 300), summarize(result, series).metastable

    immediate, stuck = late_goodput("none")
    backoff, recovered = late_goodput("exponential")
    assert immediate < 0.05 * 20 and stuck is True
    assert backoff > 0.9 * 20 and recovered is False


def test_deadline_stops_retries_after_users_give_up() -> None:
    faults = [{"kind": "error_rate", "target": "c", "at": 0, "duration": 100, "fraction": 1.0, "error_latency": 0}]
    clients = {"deadline": 2.5, "retries": {"max": 5, "backoff": "constant", "base": 1.0, "jitter": "none"}}
    scenario = make_scenario(duration=10, drain=10, faults=faults, clients=clients)
    result = Simulation(scenario, trace=Trace.from_arrivals([0.0])).run()
    assert result.attempts["sent_s"].tolist() == [0.0, 1.0, 2.0]  # the retry due at 3 s is past the deadline
    assert result.req_code.tolist() == [500]


def test_full_waiting_room_evicts_the_lowest_priority_first() -> None:
    classes = [{"name": "batch", "priority": 0}, {"name": "interactive", "priority": 10}]
    clusters = [{"name": "c", "servers": 1, "queue_limit": 1, "service": {"kind": "deterministic", "mean": 1.0}}]
    scenario = make_scenario(duration=10, drain=10, workload={"rate": 1, "classes": classes}, clusters=clusters)
    trace = Trace(
        np.array([0.0, 0.1, 0.2, 0.3]),
        np.array([0, 0, 1, 0], dtype=np.int32),
        np.arange(4),
        ("batch", "interactive"),
        (None, None),
        (1.0, 1.0),
        (None, None),
        (0, 10),
    )
    result = Simulation(scenario, trace=trace).run()
    # the queued batch request (0.1) makes room for the interactive one (0.2); a later batch one is refused
    assert result.req_code.tolist() == [200, 503, 200, 503]
    assert result.req_end_s.tolist()[:3] == [1.0, 0.2, 2.0]


def test_codel_keeps_queueing_delay_bounded_under_overload() -> None:
    """One server, 1 s service, 2 requests/s for 400 s: without shedding waits grow to minutes;
    with CoDel (target 0.5 s, interval 2 s) the attempts it serves waited only a few seconds."""
    base: dict[str, Any] = {"duration": 400, "drain": 0, "workload": {"rate": 2.0}}
    service = {"kind": "deterministic", "mean": 1.0}
    plain = run_summary(make_scenario(**base, clusters=[{"name": "c", "servers": 1, "service": service}]))[1]
    codel = {"name": "c", "servers": 1, "service": service, "codel": {"target": 0.5, "interval": 2}}
    shed = run_summary(make_scenario(**base, clusters=[codel]))[1]
    assert plain["wait_s"]["p99"] > 100
    assert shed["wait_s"]["p99"] < 5
    assert shed["errors_by_code"]["503"] > 0.3 * shed["requests"]["offered"]


def test_adaptive_concurrency_limit_sheds_instead_of_queueing() -> None:
    """10 single-slot servers (1 s exponential service), 20 minutes: offered 20/s (twice capacity)
    the limit keeps latency low while serving near capacity; offered 8/s it sheds almost nothing."""

    def figures(rate: float, limit: bool) -> dict[str, Any]:
        router: dict[str, Any] = {"strategy": "least_connections"}
        if limit:
            router["adaptive_concurrency"] = {"initial_limit": 50}
        scenario = make_scenario(
            duration=1200,
            warmup=120,
            drain=0,
            workload={"rate": rate},
            clusters=[{"name": "c", "servers": 10}],
            router=router,
        )
        return run_summary(scenario)[1]

    plain, limited = figures(20, limit=False), figures(20, limit=True)
    assert plain["latency_s"]["p50"] > 60  # the queue grows all along
    assert limited["latency_s"]["p50"] < 5
    assert limited["throughput_rps"] > 0.95 * 10
    assert figures(8, limit=True)["availability"] > 0.99


def test_cross_region_latency_is_added_when_served_elsewhere() -> None:
    classes = [{"name": "eu-users", "region": "eu"}]
    clusters = [{"name": "us", "servers": 1, "region": "us", "service": {"kind": "deterministic", "mean": 1.0}}]
    router = {"cross_region_latency": 0.05}
    scenario = make_scenario(
        duration=10, drain=5, workload={"rate": 1, "classes": classes}, clusters=clusters, router=router
    )
    trace = Trace(
        np.array([0.0]), np.array([0], dtype=np.int32), np.arange(1), ("eu-users",), (None,), (1.0,), ("eu",), (0,)
    )
    result = Simulation(scenario, trace=trace).run()
    assert result.req_end_s.tolist() == [pytest.approx(1.05)]


def test_retries_at_two_layers_multiply() -> None:
    """Every try fails: 2 client retries x 2 router retries = (2+1)^2 = 9 tries per user request."""
    scenario = make_scenario(
        duration=1000,
        workload={"rate": 5},
        clusters=[{"name": "c", "servers": 10}],
        faults=ALL_FAIL,
        router={"retries": {"max": 2}},
        clients={"retries": {"max": 2, "backoff": "none"}},
    )
    result, summary = run_summary(scenario)
    assert summary["retry_amplification"] == pytest.approx(9.0, abs=0.01)
    assert int(np.sum(result.attempts["hop"] == 0)) == int(result.req_attempts.sum())  # client attempts


def test_users_regenerate_failed_requests() -> None:
    """Every try fails and half of the failures are asked again after 5 s: a geometric series,
    so about half of all measured user requests are regenerations (tolerance 3 points)."""
    scenario = make_scenario(
        duration=4000,
        warmup=200,
        workload={"rate": 5},
        clusters=[{"name": "c", "servers": 10}],
        faults=ALL_FAIL,
        clients={"regenerate": {"probability": 0.5, "delay": 5}},
    )
    result, summary = run_summary(scenario)
    requests = summary["requests"]
    assert requests["regenerated"] / requests["offered"] == pytest.approx(0.5, abs=0.03)
    again = result.req_origin >= 0
    np.testing.assert_allclose(result.arrival_s[again], result.req_end_s[result.req_origin[again]] + 5.0)
