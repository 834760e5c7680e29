"""Balancer semantics in the simulator (router.implementation): exact traces and stated tolerances."""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.implementations import strategy_for
from sim.implementations.haproxy_leastconn import HaproxyLeastconn
from sim.implementations.haproxy_random import HaproxyRandom
from sim.implementations.haproxy_ring import RING_SPACE, ring_shares
from sim.implementations.nginx_peers import NginxPeers, PassiveHealth, fail_window
from sim.rng import Draws
from sim.scenario import HealthCheck, RouterRetries
from sim.scenario import Router as RouterSpec
from tests.conftest import make_scenario, run_summary
from tests.test_strategies import View


def test_haproxy_leastconn_serves_equal_loads_in_turn() -> None:
    views = [View(0), View(1), View(2)]
    strategy = HaproxyLeastconn(views)
    draws = Draws(np.random.default_rng(0))
    picks = []
    for _ in range(3):
        position = strategy.choose(views, None, draws)  # type: ignore[arg-type]
        picks.append(position)
        views[position].in_flight += 1
    assert picks == [0, 1, 2]
    views[1].in_flight -= 1
    strategy.on_complete(views[1], None, 0.0)
    views[0].in_flight -= 1
    strategy.on_complete(views[0], None, 0.0)
    assert strategy.choose(views, None, draws) == 1  # type: ignore[arg-type]  # at 0 longer than server 0


def test_haproxy_random_two_draws_with_replacement() -> None:
    # two servers, one idle: distinct draws would always find it; HAProxy's independent draws miss it
    # when both land on the busy one, its ring share squared (±0.02 is over 6 standard errors at 20 000)
    views = [View(0, in_flight=0), View(1, in_flight=5)]
    strategy = HaproxyRandom(2)
    draws = Draws(np.random.default_rng(7))
    busy_share = ring_shares({1: 1, 2: 1})[2] / RING_SPACE
    idle = np.mean([strategy.choose(views, None, draws) == 0 for _ in range(20_000)])  # type: ignore[arg-type]
    assert abs(idle - (1 - busy_share**2)) < 0.02


def _router(**fields: Any) -> RouterSpec:
    return make_scenario(
        clusters=[{"name": "c", "servers": 2, "service": {"kind": "deterministic", "mean": 1}}], router=fields
    ).router


def test_builtin_keeps_the_scenarios_strategy_and_each_balancer_has_its_own() -> None:
    views = [View(0), View(1)]
    draws = Draws(np.random.default_rng(0))

    def kind(**fields: Any) -> str:
        return type(strategy_for(_router(**fields), "least_connections", {}, views, draws, lambda: 0.0)).__name__

    assert kind() == "LeastConnections"
    assert kind(implementation="haproxy") == "HaproxyLeastconn"
    assert kind(implementation="nginx") == kind(implementation="nginx", instances=2) == "NginxWorkers"


def _peers(method: str = "least_connections", count: int = 3) -> NginxPeers:
    # max_fails 2, fail_timeout 1 s of nginx's clock, one nginx second = 10 simulated seconds (time scale 10)
    return NginxPeers(method, [1] * count, PassiveHealth(2, 1, 10.0, True, frozenset()))


def test_nginx_skips_a_peer_that_failed_max_fails_times_for_fail_timeout_whole_seconds() -> None:
    peers = _peers()
    draws = Draws(np.random.default_rng(0))
    for now_s in (121.0, 125.0):  # nginx seconds 12 and 12
        assert peers.pick([0], now_s, draws, set()) == 0
        peers.free(0, True, now_s)
    # skipped while now - checked <= 1: seconds 12 and 13 (simulated 120-140), between 1 and 2 of its seconds
    assert [peers.usable(0, second) for second in (12, 13, 14)] == [False, False, True]
    assert peers.pick([0, 1], 139.9, draws, set()) == 1
    assert peers.pick([0, 1], 140.0, draws, set()) == 0  # fewest connections again, and allowed
    assert peers.checked[0] == 14  # chosen after a quiet fail_timeout: the check starts now
    peers.free(0, False, 141.0)  # ... and succeeds: fails reset
    assert peers.fails[0] == 0


def test_nginx_failures_add_up_until_a_success_after_a_quiet_fail_timeout() -> None:
    draws = Draws(np.random.default_rng(0))
    close = _peers()  # a failure, a success one second later, a failure: the success did not reset
    close.pick([0], 120.0, draws, set())
    close.free(0, True, 120.0)
    close.pick([0], 130.0, draws, set())
    close.free(0, False, 130.0)
    close.pick([0], 131.0, draws, set())
    close.free(0, True, 131.0)
    assert close.fails[0] == 2 and not close.usable(0, 13)
    apart = _peers()  # the same with the success more than fail_timeout after the failure: reset
    apart.pick([0], 120.0, draws, set())
    apart.free(0, True, 120.0)
    apart.pick([0], 150.0, draws, set())
    apart.free(0, False, 150.0)
    apart.pick([0], 151.0, draws, set())
    apart.free(0, True, 151.0)
    assert apart.fails[0] == 1 and apart.usable(0, 15)


def test_nginx_with_every_peer_failed_answers_none_and_marks_them_live() -> None:
    peers = _peers(count=2)
    draws = Draws(np.random.default_rng(0))
    for _ in range(2):
        for index in (0, 1):
            assert peers.pick([index], 120.0, draws, set()) == index
            peers.free(index, True, 120.0)
    assert peers.pick([0, 1], 125.0, draws, set()) == -1
    assert peers.fails == [0, 0]  # "all peers failed, mark them as live for quick recovery"
    assert peers.pick([0, 1], 125.0, draws, set()) >= 0


def test_nginx_least_conn_breaks_ties_in_turn_and_random_two_compares_two_different_peers() -> None:
    draws = Draws(np.random.default_rng(3))
    peers = _peers()
    assert [peers.pick([0, 1, 2], 0.0, draws, set()) for _ in range(3)] == [0, 1, 2]  # each now holds one
    peers.free(0, False, 1.0)
    peers.free(1, False, 1.0)
    # tied at 0: smooth round robin's turn (server 1: it won one tie less), not the one freed first (HAProxy's 0)
    assert peers.pick([0, 1, 2], 1.0, draws, set()) == 1
    two = _peers("power_of_two", count=2)
    two.conns[1] = 5
    # the two draws are always different peers: the idle one always wins (HAProxy's random(2): 3 in 4)
    picks = []
    for _ in range(200):
        picks.append(two.pick([0, 1], 0.0, draws, set()))
        two.free(picks[-1], False, 0.0)
    assert picks == [0] * 200


def test_nginx_counts_failures_as_its_proxy_next_upstream_says() -> None:
    plain = PassiveHealth.of(HealthCheck(), None, 1.0)
    assert plain.failed(503, refused=True) and not plain.failed(503, refused=False) and not plain.failed(500, False)
    on_500 = PassiveHealth.of(HealthCheck(), RouterRetries(on=[500, 404]), 1.0)
    assert on_500.failed(500, False) and not on_500.failed(404, False)  # 404 never counts
    assert not on_500.failed(503, refused=True)  # no "error" without 502/503: a refused connection is not counted
    assert fail_window(HealthCheck(interval=2, healthy_threshold=2, unhealthy_threshold=3), 10.0) == (3, 1)
    assert fail_window(HealthCheck(interval=2, healthy_threshold=2), 1.0)[1] == 4
    assert fail_window(None, 10.0)[0] == 0


def _crash_refusals(workers: int) -> int:
    """503s on four servers, one of which crashes for 200 s; nginx learns of it from refused connections."""
    scenario = make_scenario(
        duration=400,
        warmup=0,
        workload={"rate": 3.0},
        clusters=[{"name": "c", "servers": 4, "slots": 2, "service": {"kind": "lognormal", "mean": 1, "cv": 0.3}}],
        router={
            "strategy": "least_connections",
            "implementation": "nginx",
            "instances": workers,
            "health_check": {"interval": 2, "unhealthy_threshold": 2, "healthy_threshold": 2},
        },
        faults=[{"kind": "crash", "target": "c/0", "at": 100.5, "duration": 200}],
    )
    result, _ = run_summary(scenario, 5)
    return int(np.sum(result.attempts["code"] == 503))


def test_nginx_workers_each_learn_of_a_crash_from_their_own_refused_connections() -> None:
    """max_fails 2, fail_timeout 4 s: a worker is refused twice, then once per ban of 4-5 s and the wait for
    its next request (least_conn sends it to the idle dead server); over 200 s of crash 2 + 200/6 to
    2 + 200/4 + 1 refusals with one worker. Two workers learn separately, each from its own requests (half
    as many, so each waits longer for the next): half as many again at least."""
    one, two = _crash_refusals(1), _crash_refusals(2)
    assert 2 + 200 / 6 <= one <= 2 + 200 / 4 + 1
    assert two > 1.5 * one


def test_nginx_workers_without_a_zone_wait_longer_than_one_shared_least_conn() -> None:
    """Eight single-slot servers at 75% load: two workers each balancing half the requests on their own
    counts send requests to busy servers that a shared view would avoid; the mean wait grows by well
    over half (seed 3: 0.18 s shared, 0.35 s with two workers under nginx's least_conn; same arrivals)."""
    fields: dict[str, Any] = {
        "duration": 3000,
        "warmup": 100,
        "workload": {"rate": 6.0},
        "clusters": [{"name": "c", "servers": 8, "slots": 1, "service": {"kind": "lognormal", "mean": 1, "cv": 0.3}}],
    }
    shared = run_summary(make_scenario(**fields, router={"strategy": "least_connections", "instances": 2}), 3)[1]
    workers = run_summary(
        make_scenario(**fields, router={"strategy": "least_connections", "instances": 2, "implementation": "nginx"}),
        3,
    )[1]
    assert workers["requests"]["offered"] == shared["requests"]["offered"]  # the same trace
    assert workers["wait_s"]["mean"] > 1.5 * shared["wait_s"]["mean"]
