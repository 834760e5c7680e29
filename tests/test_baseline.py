"""Scenarios with a baseline: run simulates both and prints them side by side."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import orchsim

SCENARIO = """\
name: with-baseline
duration: 20m
warmup: 1m
workload:
  rate: 8
  surges: [{at: 5m, duration: 5m, factor: 3}]
clusters: [{name: c, servers: 10, queue_limit: 2, service: {kind: exponential, mean: 1}}]
baseline: ["workload.surges=[]"]
"""


def test_run_prints_the_scenario_beside_its_baseline_and_writes_both(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(SCENARIO)
    done = orchsim("run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out"), "--no-plots")
    assert done.returncode == 0, done.stderr
    assert "incident day" in done.stdout and "baseline" in done.stdout
    incident = json.loads((tmp_path / "out" / "summary.json").read_text())
    baseline = json.loads((tmp_path / "out" / "baseline" / "summary.json").read_text())
    assert incident["errors_by_code"].get("503", 0) > 0  # the surge overflows the waiting rooms
    assert baseline["availability"] > incident["availability"]
    skipped = orchsim("run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o2"), "--no-plots", "--no-baseline")
    assert skipped.returncode == 0 and not (tmp_path / "o2" / "baseline").exists()


def test_a_baseline_override_that_breaks_the_scenario_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(SCENARIO.replace('"workload.surges=[]"', '"clusters.0.servers=-1"'))
    done = orchsim("check", str(tmp_path / "s.yaml"))
    assert done.returncode == 2
    assert "s.yaml: clusters.0.servers: must be greater than 0 (got -1) (in the baseline)" in done.stderr
