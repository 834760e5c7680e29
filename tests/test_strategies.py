"""Strategy catalogue: registry, parameters, exact small choices, and the behaviours issue 3 names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from sim.analysis.metrics import summarize
from sim.engine import simulate
from sim.rng import Draws, stream
from sim.scenario.loading import ScenarioError, load_scenario
from sim.scenario.paths import scenarios_dir
from sim.strategies import STRATEGIES, StrategyBase, make_strategy, register
from tests.conftest import known, make_scenario, run_summary


@dataclass
class View:
    index: int
    in_flight: int = 0
    busy: int = 0
    queued: int = 0
    slots: int = 1
    work_in_flight: float = 0.0
    tokens_in_flight: int = 0
    prefix_sessions: frozenset[int] = frozenset()


@dataclass
class Request:
    klass: int = 0
    session: int = 0
    work: float = 1.0
    tokens: int = 2
    sent_s: float = 0.0


def views(*loads: int) -> list[View]:
    return [View(i, in_flight=n, work_in_flight=float(n)) for i, n in enumerate(loads)]


def build(name: str, servers: list[View], **params: Any) -> Any:
    return make_strategy(name, params, servers, Draws(stream(0, "test")))


def test_catalogue_is_registered_with_descriptions() -> None:
    expected = {
        "random",
        "round_robin",
        "least_connections",
        "power_of_two",
        "central_queue",
        "weighted_round_robin",
        "power_of_d",
        "least_outstanding_work",
        "peak_ewma",
        "join_idle_queue",
        "consistent_hash_bounded",
    }
    assert expected <= set(STRATEGIES)
    assert all(cls.description for cls in STRATEGIES.values())


def test_registering_a_name_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="registered twice"):

        @register
        class Again(StrategyBase):
            name = "random"


@pytest.mark.parametrize(
    ("router", "line"),
    [
        ({"strategy": "power_of_d", "params": {"d": 0}}, "router.params.d: must be greater than or equal to 1 (got 0)"),
        ({"strategy": "power_of_d", "params": {"k": 3}}, "router.params.k: power_of_d takes no parameter 'k'"),
        ({"strategy": "random", "params": {"d": 3}}, "router.params.d: random takes no parameter 'd'"),
        (
            {"strategy": "weighted_round_robin", "params": {"weights": [1, 2]}},
            "router.params.weights: needs one weight per server, 3 (got 2)",
        ),
        ({"strategy": "peak_ewma", "params": {"decay": "soon"}}, "router.params.decay: must be a duration"),
    ],
)
def test_bad_parameters_name_the_parameter(router: dict[str, Any], line: str) -> None:
    with pytest.raises(ScenarioError) as info:
        make_scenario(clusters=[{"name": "c", "servers": 3}], router=router)
    assert len(info.value.lines) == 1
    assert info.value.lines[0].startswith(f"test.yaml: {line}")


def test_power_of_d_takes_the_least_loaded_sample() -> None:
    servers = views(5, 3, 9, 1, 7)
    assert build("power_of_d", servers, d=5).choose(servers, Request(), Draws(stream(1, "x"))) == 3
    picks = {build("power_of_d", servers, d=1).choose(servers, Request(), Draws(stream(s, "x"))) for s in range(40)}
    assert picks == {0, 1, 2, 3, 4}


def test_weighted_round_robin_is_smooth_and_proportional() -> None:
    servers = views(0, 0)
    wrr = build("weighted_round_robin", servers, weights=[3, 1])
    picks = [wrr.choose(servers, Request(), Draws(stream(1, "x"))) for _ in range(8)]
    assert picks == [0, 0, 1, 0, 0, 0, 1, 0]


def test_least_outstanding_work_counts_work_not_requests() -> None:
    servers = [View(0, in_flight=1, work_in_flight=20.0), View(1, in_flight=3, work_in_flight=3.0)]
    assert build("least_outstanding_work", servers).choose(servers, Request(), Draws(stream(1, "x"))) == 1
    assert build("least_connections", servers).choose(servers, Request(), Draws(stream(1, "x"))) == 0


def test_peak_ewma_jumps_to_peaks_and_decays() -> None:
    servers = views(0, 0)
    ewma = build("peak_ewma", servers, decay=10, default_latency=1)
    ewma.on_complete(servers[0], Request(sent_s=0.0), 5.0)
    assert ewma.ewma_s[0] == 5.0  # a peak is taken at once
    ewma.on_complete(servers[0], Request(sent_s=14.0), 15.0)
    assert ewma.ewma_s[0] == pytest.approx(5.0 * np.exp(-1) + 1.0 * (1 - np.exp(-1)))
    servers[1].in_flight = 2  # cost 1 x 3 = 3 vs 2.47 x 1
    assert ewma.choose(servers, Request(), Draws(stream(1, "x"))) == 0


def test_join_idle_queue_sends_to_announced_idle_servers() -> None:
    servers = views(0, 0, 0, 0)
    jiq = build("join_idle_queue", servers, dispatchers=1)
    draws = Draws(stream(1, "x"))
    assert [jiq.choose(servers, Request(), draws) for _ in range(4)] == [0, 1, 2, 3]
    jiq.on_complete(servers[2], Request(), 1.0)  # server 2 is idle again and announces it
    assert jiq.choose(servers, Request(), draws) == 2


def test_consistent_hash_keeps_sessions_and_respects_the_bound() -> None:
    servers = views(0, 0, 0, 0)
    chb = build("consistent_hash_bounded", servers, epsilon=0.25)
    draws = Draws(stream(1, "x"))
    home = {s: chb.choose(servers, Request(session=s), draws) for s in range(50)}
    assert {chb.choose(servers, Request(session=s), draws) for s in range(50) if home[s] == 0} == {0}
    assert len(set(home.values())) == 4  # keys spread over every server
    servers[home[7]].in_flight = 10  # over ceil(1.25 x 11 / 4) = 4: the key moves on along the ring
    assert chb.choose(servers, Request(session=7), draws) != home[7]


def test_strategies_at_load_09_on_100_servers() -> None:
    """Exponential service, 100 single-slot servers, load 0.9: mean time in system in service times.

    Theory: random = M/M/1 = 10 (three seeds, tolerance 10%); power_of_two = JSQ(2) mean field
    2.61 (4%); least_connections = JSQ, close to 1 (between 1.0 and 1.15).
    """
    fields: dict[str, Any] = {
        "duration": 3000,
        "warmup": 300,
        "workload": {"rate": 90},
        "clusters": [{"name": "p", "servers": 100}],
    }

    def mean_time(strategy: str, seed: int) -> float:
        _, summary = run_summary(make_scenario(**fields, router={"strategy": strategy}), seed)
        return float(summary["latency_s"]["mean"])

    assert np.mean([mean_time("random", s) for s in (1, 2, 3)]) == pytest.approx(10.0, rel=0.10)
    assert mean_time("power_of_two", 1) == pytest.approx(2.614, rel=0.04)
    assert 1.0 <= mean_time("least_connections", 1) <= 1.15


def test_stale_information_makes_least_connections_worse_than_random() -> None:
    path = scenarios_dir() / "stale-load-herding.yaml"

    def mean_time(strategy: str, interval: str) -> float:
        scenario = load_scenario(path, [f"router.strategy={strategy}", f"router.report_interval={interval}"])
        return known(summarize(simulate(scenario)).latency_s.mean)

    stale = {s: mean_time(s, "5s") for s in ("random", "least_connections", "power_of_two")}
    assert stale["least_connections"] > stale["random"] > stale["power_of_two"]
    fresh = {s: mean_time(s, "null") for s in ("least_connections", "power_of_two")}
    assert fresh["least_connections"] < fresh["power_of_two"] < stale["random"]
    assert stale["power_of_two"] < 2 * fresh["power_of_two"]  # graceful


def test_fast_failing_server_is_a_sinkhole_for_least_connections() -> None:
    path = scenarios_dir() / "fast-fail-sinkhole.yaml"

    def share_to_broken(strategy: str) -> float:
        result = simulate(load_scenario(path, [f"router.strategy={strategy}"]))
        a = result.attempts
        during = (a["sent_s"] >= 600) & (a["sent_s"] < 2400)
        return float(np.mean(a["server"][during] == 0))

    assert share_to_broken("least_connections") > 5 * (1 / 20)
    assert share_to_broken("round_robin") == pytest.approx(1 / 20, rel=0.05)


def test_per_cluster_strategy_and_region_spillover() -> None:
    clusters = [
        {"name": "east", "servers": 4, "region": "us", "strategy": "least_connections"},
        {"name": "west", "servers": 4, "region": "eu", "strategy": "round_robin"},
    ]
    workload = {"rate": 2, "classes": [{"name": "us-users", "region": "us"}]}

    def share_home(threshold: float) -> float:
        router = {"cluster_strategy": "region_spillover", "spill_threshold": threshold}
        result = simulate(make_scenario(duration=2000, workload=workload, clusters=clusters, router=router))
        return float(np.mean(result.attempts["cluster"] == 0))

    # home is an M/M/4 at load 0.5: all 4 busy (utilisation 1 >= 0.9) about 17% of the time
    shares = [share_home(t) for t in (0.9, 0.5, 0.01)]
    assert 0.75 < shares[0] < 0.95
    assert shares[0] > shares[1] > shares[2]
