"""The CLI as a user runs it: exit codes, output folder, error lines without tracebacks."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sim.scenario.paths import scenarios_dir
from tests.conftest import orchsim

SUMMARY_KEYS = {
    "scenario",
    "seed",
    "strategy",
    "duration_s",
    "warmup_s",
    "requests",
    "errors_by_code",
    "availability",
    "uptime",
    "latency_s",
    "wait_s",
    "ttft_s",
    "throughput_rps",
    "goodput_rps",
    "retry_amplification",
    "utilization",
    "metastable",
    "wall_s",
    "events",
    "requests_per_wall_s",
}
STATS_KEYS = {"mean", "p50", "p90", "p95", "p99", "max"}
SMALL = {
    "name": "small",
    "duration": "10m",
    "warmup": "1m",
    "workload": {"rate": 20},
    "clusters": [{"name": "a", "servers": 10, "slots": 2, "service": {"kind": "exponential", "mean": "500ms"}}],
    "router": {"strategy": "power_of_two"},
    "faults": [{"kind": "crash", "target": "a", "at": "4m", "duration": "1m", "fraction": 0.5}],
}


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    return path


def test_help_on_every_verb() -> None:
    assert orchsim("--help").returncode == 0
    for verb in ("run", "check", "strategies"):
        done = orchsim(verb, "--help")
        assert done.returncode == 0 and "usage: orchsim " + verb in done.stdout


def test_run_writes_the_contract_folder(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = orchsim("run", str(small), "--out", str(out), "--seed", "3")
    assert done.returncode == 0, done.stderr
    assert "availability" in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) >= SUMMARY_KEYS
    assert set(summary["requests"]) >= {"offered", "attempts", "succeeded", "failed"}
    for key in ("latency_s", "wait_s", "ttft_s"):
        assert set(summary[key]) == STATS_KEYS
    assert summary["seed"] == 3 and summary["strategy"] == "power_of_two"
    assert summary["metastable"] in (True, False)
    rows = list(csv.DictReader((out / "timeseries.csv").read_text().splitlines()))
    assert len(rows) == 10
    assert {"offered", "attempts", "succeeded", "queue_depth", "busy_slots", "healthy_servers"} <= set(rows[0])
    assert float(rows[4]["healthy_servers"]) == pytest.approx(5.0)
    for png in ("load.png", "errors.png", "latency.png", "queue.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temp files left behind"


def test_resolved_scenario_reproduces_the_run(small: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    done = orchsim("run", str(small), "--out", str(first), "--seed", "5", "--no-plots", "--set", "workload.rate=25")
    assert done.returncode == 0, done.stderr
    resolved = first / "scenario.resolved.yaml"
    assert yaml.safe_load(resolved.read_text())["workload"]["rate"] == 25
    assert orchsim("run", str(resolved), "--out", str(second), "--no-plots").returncode == 0
    a, b = (json.loads((d / "summary.json").read_text()) for d in (first, second))
    for wall in ("wall_s", "requests_per_wall_s"):
        a.pop(wall), b.pop(wall)
    assert a == b


def test_default_run_is_the_flagship(tmp_path: Path) -> None:
    done = orchsim("run", "--set", "duration=20m", "--set", "warmup=1m", "--no-plots", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    folders = list((tmp_path / "runs").iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("chatgpt-2026-02-04-")
    assert (folders[0] / "baseline" / "summary.json").exists()  # the flagship has a baseline


def test_check_accepts_shipped_scenarios() -> None:
    files = sorted(str(p) for p in scenarios_dir().glob("*.yaml"))
    done = orchsim("check", *files)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(": ok (") == len(files)


def test_check_reports_every_problem_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "peak.yaml"
    bad.write_text(yaml.safe_dump({**SMALL, "clusters": [{"name": "a", "servers": -3}]}))
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    done = orchsim("check", str(bad), str(broken))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert "peak.yaml: clusters.0.servers: must be greater than 0 (got -3)" in lines
    assert "peak.yaml: faults.0.target: no cluster named 'a'" not in lines  # the cluster exists but is invalid
    assert any(line.startswith("broken.yaml: line ") for line in lines)
    assert "Traceback" not in done.stderr


def test_run_with_bad_input_exits_2_without_writing(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "never"
    for args in (["--set", "clusters.0.servers=0"], ["--set", "router.strategy=best"], ["--seed", "-1"]):
        done = orchsim("run", str(small), "--out", str(out), *args)
        assert done.returncode == 2, args
        assert "Traceback" not in done.stderr
    assert not out.exists()
    missing = orchsim("run", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "cannot read file" in missing.stderr


def test_schema_is_json() -> None:
    done = orchsim("check", "--schema")
    assert done.returncode == 0
    assert json.loads(done.stdout)["title"] == "orchsim scenario"


def test_strategies_lists_one_line_each() -> None:
    lines = orchsim("strategies").stdout.strip().splitlines()
    names = [line.split()[0] for line in lines]
    assert {"random", "round_robin", "least_connections", "power_of_two", "central_queue"} <= set(names)
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines)


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "orchsim"
    assert script.exists()
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("orchsim ")
