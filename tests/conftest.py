"""Shared helpers: build scenarios from plain dicts, run them, summarise."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sim.engine import SimResult, simulate
from sim.loading import parse_scenario
from sim.metrics import summarize
from sim.scenario import Scenario

BASE: dict[str, Any] = {
    "name": "test",
    "duration": 1000,
    "warmup": 0,
    "drain": 0,
    "workload": {"rate": 1.0},
    "clusters": [{"name": "c", "servers": 1}],
}


def make_scenario(*, overrides: list[str] | None = None, **fields: Any) -> Scenario:
    """BASE updated with ``fields`` (top-level keys replaced) and ``--set`` style overrides."""
    data = copy.deepcopy(BASE)
    data.update(copy.deepcopy(fields))
    return parse_scenario(data, "test.yaml", overrides)


def run_summary(scenario: Scenario, seed: int | None = None) -> tuple[SimResult, dict[str, Any]]:
    """Simulate and summarise."""
    result = simulate(scenario, seed)
    return result, summarize(result)


@pytest.fixture
def scenario_factory() -> Any:
    return make_scenario
