"""Shared helpers: build scenarios from plain dicts, run them, summarise."""

from __future__ import annotations

import asyncio
import copy
import functools
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sim.analysis.metrics import summarize
from sim.analysis.summary import Summary
from sim.compiled import PURE_ENV
from sim.engine import SimResult, simulate
from sim.scenario import Scenario
from sim.scenario.loading import parse_scenario

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
    """Simulate and summarise: the records and the summary.json document."""
    result = simulate(scenario, seed)
    return result, summarize(result).to_dict()


def known(value: float | None) -> float:
    """A summary figure that must be defined in this run (a test of it fails on None)."""
    assert value is not None, "the figure is undefined in this run"
    return value


@functools.cache
def base_summary() -> Summary:
    """The summary of a real short run (one server, 1 request/s for 100 s): tests vary its figures."""
    return summarize(simulate(make_scenario(duration=100), 1))


@pytest.fixture
def scenario_factory() -> Any:
    return make_scenario


def orchsim(*args: str, cwd: Path | None = None, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would (``python -m sim``), capturing its output."""
    command = [sys.executable, "-m", "sim", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=timeout_s, check=False)


TINY_YAML = "name: ok\nduration: 200\ndrain: 0\nwindow: 50\nworkload: {rate: 1}\nclusters: [{name: c, servers: 1}]\n"


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A scenario file that simulates in a blink: 200 s at 1 request/s on one server."""
    path = tmp_path / "s.yaml"
    path.write_text(TINY_YAML)
    return path


def interrupt_on_hold(
    command: list[str], gate: Path, sig: int, cwd: Path | None = None, timeout_s: float = 120
) -> tuple[int, str, str]:
    """Start ``command`` with ``ORCHSIM_TEST_HOLD=gate``, send ``sig`` once it holds there (so it cannot
    have finished), and return (exit code, where it held, stderr). The process is always stopped."""
    env = {**os.environ, "ORCHSIM_TEST_HOLD": str(gate)}
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout_s
        while not gate.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        held = gate.read_text() if gate.exists() else f"never held (exit {process.poll()})"
        process.send_signal(sig)
        _, err = process.communicate(timeout=timeout_s)
    finally:
        gate.unlink(missing_ok=True)
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, held, err


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout_s``. The timeout is
    generous: on a busy machine the wait is longer, never wrong (tests wait on state, not sleep)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s:g} s for {what}")
        time.sleep(0.02)


async def wait_for_async(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """``wait_for`` inside an event loop: yields between checks, so that the loop's tasks go on."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s:g} s for {what}")
        await asyncio.sleep(0.02)


def in_pure_python(request: pytest.FixtureRequest) -> None:
    """Run this test in a fresh process on the engine's pure-Python sources: it patches or subclasses an
    engine class, which the compiled engine's classes (mypyc, ``sim/compiled.py``) do not allow."""
    env = {**os.environ, PURE_ENV: "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", request.node.nodeid]
    done = subprocess.run(command, cwd=request.config.rootpath, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
    assert " passed" in done.stdout  # run, not skipped
