"""Same scenario and seed: the same summary; strategies compared on one seed see the same trace."""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.analysis.metrics import summarize
from sim.engine import simulate
from sim.rng import Draws, stream
from sim.workload.trace import generate_trace
from tests.conftest import make_scenario

WALL_CLOCK = ("wall_s", "requests_per_wall_s")

FIELDS: dict[str, Any] = {
    "duration": 600,
    "warmup": 60,
    "workload": {"rate": 30, "classes": [{"name": "a", "weight": 3}, {"name": "b", "weight": 1, "work": 2}]},
    "clusters": [
        {"name": "x", "servers": 8, "slots": 2, "queue_limit": 4, "service": {"kind": "lognormal", "mean": 0.5}},
        {"name": "y", "servers": 4, "service": {"kind": "exponential", "mean": 0.5}},
    ],
    "clients": {"timeout": 2, "retries": {"max": 2, "jitter": "full", "base": 0.1}},
    "faults": [{"kind": "crash", "target": "x", "at": 200, "duration": 100, "fraction": 0.5}],
}


def figures(seed: int, strategy: str = "power_of_two") -> dict[str, object]:
    summary = summarize(simulate(make_scenario(**FIELDS, router={"strategy": strategy}), seed))
    return {k: v for k, v in summary.to_dict().items() if k not in WALL_CLOCK}


def test_same_seed_same_summary() -> None:
    assert figures(3) == figures(3)


def test_other_seed_other_summary() -> None:
    assert figures(3)["requests"] != figures(4)["requests"]


def test_strategies_see_the_identical_trace() -> None:
    traces = [simulate(make_scenario(**FIELDS, router={"strategy": s}), 5) for s in ("random", "least_connections")]
    np.testing.assert_array_equal(traces[0].arrival_s, traces[1].arrival_s)
    np.testing.assert_array_equal(traces[0].klass, traces[1].klass)
    assert traces[0].attempts["server"].tolist() != traces[1].attempts["server"].tolist()


def test_trace_does_not_depend_on_clusters_or_strategy() -> None:
    a = generate_trace(make_scenario(**FIELDS), 9)
    other = {**FIELDS, "clusters": [{"name": "x", "servers": 1}], "faults": []}
    b = generate_trace(make_scenario(**other), 9)
    np.testing.assert_array_equal(a.arrival_s, b.arrival_s)


def test_streams_are_stable_and_distinct() -> None:
    assert stream(1, "service", 0, 1).random() == stream(1, "service", 0, 1).random()
    assert stream(1, "service", 0, 1).random() != stream(1, "service", 0, 2).random()
    assert stream(1, "arrivals").random() != stream(2, "arrivals").random()


def test_buffered_draws_equal_plain_draws_whatever_the_block() -> None:
    plain = stream(4, "x").random(10).tolist()
    for block in (1, 3, 1024):
        draws = Draws(stream(4, "x"), block=block)
        assert [draws.uniform() for _ in range(10)] == plain
