"""The simulator against queueing theory.

Each check runs six independent seeds and builds a 99% Student-t interval of the seed means;
the interval must contain the theoretical value and be narrower than a stated share of it (so a
check cannot pass by being imprecise). Mean-field JSQ(2) is an n -> infinity limit, so the finite
100-server model gets a fixed relative tolerance instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy import stats as st

from sim.engine import SimResult
from tests import theory
from tests.conftest import make_scenario, run_summary

SEEDS = range(1, 7)


def seed_means(figure: Callable[[SimResult, dict[str, Any]], Any], **fields: Any) -> np.ndarray:
    """``figure(result, summary)`` for every seed, as an array (one row per seed)."""
    values = []
    for seed in SEEDS:
        result, summary = run_summary(make_scenario(**fields), seed)
        values.append(figure(result, summary))
    return np.asarray(values, dtype=np.float64)


def assert_agrees(values: np.ndarray, expected: float, max_half_width: float) -> None:
    mean = values.mean()
    half = st.t.ppf(0.995, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    assert abs(mean - expected) <= half, f"mean {mean:.4f} +- {half:.4f} excludes theory {expected:.4f}"
    assert half <= max_half_width * expected, f"interval +-{half:.4f} too wide to test {expected:.4f}"


def waits(result: SimResult) -> np.ndarray:
    a = result.attempts
    measured = result.arrival_s[a["req"]] >= result.scenario.warmup
    wait: np.ndarray = (a["start_s"] - a["sent_s"])[measured]
    return wait


MMC: dict[str, Any] = {
    "duration": 40000,
    "warmup": 500,
    "workload": {"rate": 8},
    "clusters": [{"name": "pool", "servers": 10}],
    "router": {"strategy": "central_queue"},
}


def test_central_queue_is_mmc_erlang_c() -> None:
    """M/M/10 at load 0.8: P(wait) = 0.409 and Wq = 0.2046 s."""
    figures = seed_means(lambda r, s: (s["wait_s"]["mean"], float(np.mean(waits(r) > 0))), **MMC)
    assert_agrees(figures[:, 0], theory.mmc_wait_s(10, 8, 1.0), max_half_width=0.10)
    assert_agrees(figures[:, 1], theory.erlang_c(10, 8.0), max_half_width=0.05)


def test_random_routing_makes_each_server_mm1() -> None:
    fields: dict[str, Any] = {**MMC, "router": {"strategy": "random"}}
    values = seed_means(lambda r, s: s["latency_s"]["mean"], **fields)
    assert_agrees(values, theory.mm1_time_in_system_s(0.8, 1.0), max_half_width=0.05)


def test_md1_wait_is_pollaczek_khinchine() -> None:
    service = {"kind": "deterministic", "mean": 1.0}
    fields: dict[str, Any] = {
        "duration": 100000,
        "warmup": 500,
        "workload": {"rate": 0.7},
        "clusters": [{"name": "s", "servers": 1, "service": service}],
    }
    values = seed_means(lambda r, s: s["wait_s"]["mean"], **fields)
    assert_agrees(values, theory.pk_wait_s(0.7, 1.0, 1.0), max_half_width=0.05)


def test_mg1_lognormal_wait_is_pollaczek_khinchine() -> None:
    service = {"kind": "lognormal", "mean": 1.0, "cv": 1.5}
    fields: dict[str, Any] = {
        "duration": 100000,
        "warmup": 500,
        "workload": {"rate": 0.5},
        "clusters": [{"name": "s", "servers": 1, "service": service}],
    }
    values = seed_means(lambda r, s: s["wait_s"]["mean"], **fields)
    second_moment = make_scenario(**fields).clusters[0].service.second_moment_s2
    assert second_moment == pytest.approx(1.0 + 1.5**2)
    assert_agrees(values, theory.pk_wait_s(0.5, 1.0, second_moment), max_half_width=0.12)


def test_power_of_two_matches_jsq2_mean_field() -> None:
    """100 servers at load 0.9: mean-field E[T] = 2.614 service times; finite n adds ~1%; tolerance 4%."""
    fields: dict[str, Any] = {
        "duration": 3000,
        "warmup": 300,
        "workload": {"rate": 90},
        "clusters": [{"name": "p", "servers": 100}],
        "router": {"strategy": "power_of_two"},
    }
    values = seed_means(lambda r, s: s["latency_s"]["mean"], **fields)
    expected = theory.jsq_d_time_in_system(0.9, 2)
    assert expected == pytest.approx(2.614, abs=1e-3)
    assert values.mean() == pytest.approx(expected, rel=0.04)


def test_retry_amplification_matches_retry_arithmetic() -> None:
    """Independent attempt failures x = 0.3 and N = 3 retries: (1 - x^4)/(1 - x) attempts; tolerance 1%."""
    faults = [{"kind": "error_rate", "target": "c", "at": 0, "duration": 10000, "fraction": 0.3}]
    fields: dict[str, Any] = {
        "duration": 5000,
        "workload": {"rate": 20},
        "clusters": [{"name": "c", "servers": 100}],
        "faults": faults,
        "clients": {"retries": {"max": 3, "backoff": "none"}},
    }
    _, summary = run_summary(make_scenario(**fields))
    assert summary["retry_amplification"] == pytest.approx(theory.expected_attempts(0.3, 3), rel=0.01)
    assert summary["availability"] == pytest.approx(1 - 0.3**4, abs=0.002)


def test_theory_helpers_known_values() -> None:
    assert theory.erlang_c(1, 0.5) == pytest.approx(0.5)
    assert theory.erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert theory.mmc_wait_s(1, 0.5, 1.0) == pytest.approx(1.0)
    assert theory.mm1_time_in_system_s(0.9, 1.0) == pytest.approx(10.0)
    assert theory.pk_wait_s(0.5, 1.0, 2.0) == pytest.approx(1.0)  # M/M/1 special case
    assert theory.expected_attempts(1.0, 3) == 4.0
    assert theory.smallest_servers(9.0, 1.0, 0.1) == 12
