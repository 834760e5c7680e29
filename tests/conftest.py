"""Shared helpers: build scenarios from plain dicts, run them, summarise."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
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


def orchsim(*args: str, cwd: Path | None = None, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would (``python -m sim``), capturing its output."""
    command = [sys.executable, "-m", "sim", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=timeout_s, check=False)
