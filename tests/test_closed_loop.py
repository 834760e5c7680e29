"""Closed-loop workloads (``workload.users``): Little's law, an exact one-user trace, faults, tpot_s."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from sim.scenario.loading import ScenarioError, parse_scenario
from tests.conftest import make_scenario, run_summary

CLOSED = {"users": 8, "think_time": 0.5}


def test_littles_law_holds_for_a_closed_loop() -> None:
    """Throughput = N / (mean latency + think time): the loop's own identity, within 2% (edge effects
    of requests that straddle the warm-up and the end are the only slack)."""
    scenario = make_scenario(
        duration=2000,
        warmup=100,
        workload=CLOSED,
        clusters=[{"name": "c", "servers": 2, "slots": 2, "service": {"kind": "exponential", "mean": 1.0}}],
        router={"strategy": "least_connections"},
    )
    _, summary = run_summary(scenario, seed=4)
    expected_rps = 8 / (summary["latency_s"]["mean"] + 0.5)
    assert summary["throughput_rps"] == pytest.approx(expected_rps, rel=0.02)
    # 8 users on 4 slots with 0.5 s of thinking: the slots are nearly always busy
    assert 3.0 < summary["throughput_rps"] < 4.0


def test_one_user_sends_each_request_when_the_last_ends() -> None:
    """One user, 1 s deterministic service, 0.25 s think time: arrivals at exactly 0, 1.25, 2.5, ..."""
    scenario = make_scenario(
        duration=10,
        workload={"users": 1, "think_time": "250ms"},
        clusters=[{"name": "c", "servers": 1, "service": {"kind": "deterministic", "mean": 1.0}}],
    )
    result, summary = run_summary(scenario)
    np.testing.assert_allclose(result.arrival_s, 1.25 * np.arange(8))
    np.testing.assert_allclose(result.req_end_s[:7] - result.arrival_s[:7], 1.0)
    assert summary["requests"]["offered"] == 8
    assert summary["tpot_s"] is None  # no token model: no time per output token


def test_same_seed_same_summary_with_faults_and_retries() -> None:
    """A crash refuses requests at once; retries and the closed loop go on, deterministically."""
    fields: dict[str, Any] = {
        "duration": 300,
        "workload": {"users": 20},
        "clusters": [{"name": "c", "servers": 4, "slots": 2, "service": {"kind": "lognormal", "mean": 0.5, "cv": 1}}],
        "clients": {"timeout": 3, "retries": {"max": 2, "base": 0.1, "jitter": "full"}},
        "faults": [{"kind": "crash", "target": "c", "at": 100, "duration": 50, "fraction": 1.0}],
        "router": {"strategy": "power_of_two"},
    }
    first = run_summary(make_scenario(**fields), seed=9)[1]
    second = run_summary(make_scenario(**fields), seed=9)[1]
    for summary in (first, second):
        summary.pop("wall_s"), summary.pop("requests_per_wall_s")
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert first["errors_by_code"].get("503", 0) > 0  # the outage was seen
    assert first["availability"] < 1.0
    assert first["requests"]["succeeded"] > 1000  # and the loop carried on after it


def test_tpot_of_a_lone_user_is_the_inter_token_latency() -> None:
    """One user on an idle LLM server: every answer's tokens after the first come itl apart."""
    scenario = make_scenario(
        duration=60,
        workload={"users": 1, "prompt_tokens": 100, "output_tokens": 51},
        clusters=[{"name": "g", "servers": 1, "slots": 4, "service": {"kind": "llm", "itl": 0.02}}],
    )
    _, summary = run_summary(scenario)
    assert summary["tpot_s"]["mean"] == pytest.approx(0.02, rel=1e-9)
    assert summary["tpot_s"]["max"] == pytest.approx(0.02, rel=1e-9)
    assert summary["throughput_rps"] == pytest.approx(1 / (50 * 0.02), rel=0.02)


@pytest.mark.parametrize(
    ("workload", "message"),
    [
        ({"rate": 1, "users": 2}, "give exactly one of rate (open loop) or users (closed loop)"),
        ({}, "give exactly one of rate (open loop) or users (closed loop)"),
        ({"users": 2, "profile": [{"at": 0, "rate": 1}]}, "profile: need open-loop arrival times"),
        ({"rate": 2, "think_time": 1}, "think_time, requests_per_user: apply to a closed loop (users) only"),
        ({"users": 0}, "workload.users: must be greater than 0"),
    ],
)
def test_rate_xor_users_is_validated(workload: dict[str, object], message: str) -> None:
    data = {"name": "x", "duration": 10, "workload": workload, "clusters": [{"name": "c", "servers": 1}]}
    with pytest.raises(ScenarioError) as error:
        parse_scenario(data, "x.yaml")
    assert message in str(error.value)
