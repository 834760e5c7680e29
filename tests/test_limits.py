"""Runaway scenarios: field bounds no real system reaches, and the cost estimate that refuses a run
(exit 2, naming the field that drives it) unless ``--force``."""

from __future__ import annotations

from pathlib import Path

import pytest

import sim.cli.commands  # noqa: F401  (imported once, not inside a timed call)
from sim.cli.main import main
from sim.experiments import cost

GOOD = "name: ok\nduration: 100\ndrain: 0\nworkload: {rate: 1}\nclusters: [{name: c, servers: 1}]\n"


def orchsim(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("clusters.0.servers=100000000", "clusters.0.servers"),
        ("clusters.0.slots=1000000000", "clusters.0.slots"),
        ("workload.output_tokens=1000000000000", "workload.output_tokens.value"),
        ("workload.prompt_tokens={kind: lognormal, mean: 1e15}", "workload.prompt_tokens.mean"),
        ("workload.rate=1e12", "workload.rate"),
        ("workload.surges=[{at: 1, duration: 1, factor: 1e300}]", "workload.surges.0.factor"),
        ("faults=[{kind: slowdown, target: c, at: 1, duration: 1, factor: 1e300}]", "faults.0.factor"),
        ("duration=1e300", "duration"),
    ],
)
def test_unreal_field_values_are_errors_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str, field: str
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(GOOD)
    code, _, err = orchsim(capsys, "check", str(path), "--set", override)
    assert code == 2 and f"s.yaml: {field}: must be less than or equal to" in err, err


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("1,c,5," + "9" * 40, "line 3: output_tokens must be at most 1e+07"),
        ("1,c,99999999999,5", "line 3: prompt_tokens must be at most 1e+07"),
        ("1e400,c,5,5", "line 3: time_s must be >= 0 (got '1e400')"),
        ("1e300,c,5,5", "line 3: time_s must be at most"),
    ],
)
def test_trace_rows_with_huge_numbers_name_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], row: str, message: str
) -> None:
    (tmp_path / "t.csv").write_text(f"time_s,class,prompt_tokens,output_tokens\n0,c,5,5\n{row}\n")
    path = tmp_path / "s.yaml"
    path.write_text(
        GOOD.replace("workload: {rate: 1}", "workload: {rate: 1, classes: [{name: c}], trace: {file: t.csv}}")
    )
    code, _, err = orchsim(capsys, "check", str(path))
    assert code == 2 and f"t.csv {message}" in err and "Traceback" not in err, err


def test_a_run_over_the_cost_limits_is_refused_naming_the_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "win.yaml"
    path.write_text(GOOD.replace("duration: 100", "duration: 24h\nwindow: 1ms"))
    code, out, _ = orchsim(capsys, "check", str(path))
    assert code == 0 and "estimate per run: ~8.64e+04 requests" in out and "8.64e+07 time-series rows" in out
    assert "window: the run would need" in out
    code, _, err = orchsim(capsys, "run", str(path), "--out", str(tmp_path / "out"))
    assert code == 2 and "win.yaml: window: the run would need ~8.64e+07 time-series rows" in err
    assert "--force" in err and not (tmp_path / "out").exists()


def test_force_runs_a_scenario_over_the_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(GOOD)
    monkeypatch.setitem(cost.LIMITS, "events", 100.0)  # ~1200 events: over this limit
    code, _, err = orchsim(capsys, "run", str(path), "--out", str(tmp_path / "a"), "--no-plots")
    assert code == 2 and "s.yaml: workload.rate: the run would need ~1.2e+03 simulation events" in err
    code, _, err = orchsim(capsys, "run", str(path), "--out", str(tmp_path / "b"), "--no-plots", "--force")
    assert code == 0 and (tmp_path / "b" / "summary.json").exists(), err


def test_many_large_clusters_are_refused_on_memory_naming_the_biggest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clusters = ", ".join(f"{{name: c{i}, servers: {100_000 if i == 7 else 90_000}}}" for i in range(10))
    path = tmp_path / "wide.yaml"
    path.write_text(GOOD.replace("clusters: [{name: c, servers: 1}]", f"clusters: [{clusters}]"))
    code, _, err = orchsim(capsys, "run", str(path), "--out", str(tmp_path / "out"))
    assert code == 2 and "wide.yaml: clusters.7.servers: the run would need" in err and "bytes of memory" in err
