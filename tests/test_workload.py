"""Arrival traces: Poisson counts, exact NHPP for profiles and surges, class weights."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from sim.workload.trace import generate_trace, rate_at
from tests.conftest import make_scenario


def test_constant_rate_count_is_poisson() -> None:
    """Count over 10,000 s at 5/s: within 4 standard deviations of 50,000."""
    trace = generate_trace(make_scenario(duration=10000, workload={"rate": 5}), 1)
    assert abs(len(trace) - 50000) < 4 * np.sqrt(50000)
    gaps = np.diff(trace.arrival_s)
    assert gaps.mean() == pytest.approx(0.2, rel=0.02)
    assert st.kstest(gaps, "expon", args=(0, 0.2)).pvalue > 0.001


def test_profile_ramp_counts_follow_the_integral_of_the_rate() -> None:
    """Rate ramps 0 -> 100/s over 1000 s; counts in 20 bins pass a chi-square test (p > 0.001)."""
    workload = {"rate": 1, "profile": [{"at": 0, "rate": 0}, {"at": 1000, "rate": 100}]}
    scenario = make_scenario(duration=1000, workload=workload)
    trace = generate_trace(scenario, 2)
    edges = np.linspace(0, 1000, 21)
    observed, _ = np.histogram(trace.arrival_s, edges)
    expected = 0.5 * 0.1 * (edges[1:] ** 2 - edges[:-1] ** 2)  # integral of 0.1 t dt
    assert st.chisquare(observed, expected * observed.sum() / expected.sum()).pvalue > 0.001
    assert abs(observed.sum() - 50000) < 4 * np.sqrt(50000)


def test_factor_profile_scales_the_base_rate() -> None:
    workload = {"rate": 40, "profile": [{"at": 0, "factor": 0.5}, {"at": 100, "factor": 1.5}]}
    scenario = make_scenario(duration=200, workload=workload)
    assert rate_at(scenario.workload, np.array([0.0, 50.0, 100.0, 150.0])).tolist() == [20.0, 40.0, 60.0, 60.0]


def test_surge_multiplies_the_rate_in_its_window() -> None:
    workload = {"rate": 10, "surges": [{"at": 100, "duration": 50, "factor": 3}]}
    scenario = make_scenario(duration=300, workload=workload)
    assert rate_at(scenario.workload, np.array([99.0, 100.0, 149.0, 150.0])).tolist() == [10, 30, 30, 10]
    trace = generate_trace(scenario, 3)
    inside = np.sum((trace.arrival_s >= 100) & (trace.arrival_s < 150))
    assert abs(inside - 1500) < 4 * np.sqrt(1500)


def test_class_weights_set_class_shares() -> None:
    workload = {"rate": 50, "classes": [{"name": "chat", "weight": 9}, {"name": "think", "weight": 1}]}
    trace = generate_trace(make_scenario(duration=1000, workload=workload), 4)
    share = np.mean(trace.klass == 1)
    assert trace.class_names == ("chat", "think")
    assert abs(share - 0.1) < 4 * np.sqrt(0.1 * 0.9 / len(trace))
