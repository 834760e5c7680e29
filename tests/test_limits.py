"""Runaway scenarios: field bounds no real system reaches, and the cost estimate that refuses a run
(exit 2, naming the field that drives it) unless ``--force``."""

from __future__ import annotations

from pathlib import Path

import pytest

import sim.cli.commands  # imported once, not inside a timed call
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


def test_run_seeds_over_the_total_is_refused_naming_seeds_and_force_runs_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(GOOD)  # ~1.2e3 events a run, within every limit of one run
    monkeypatch.setattr(cost, "TOTAL_EVENTS", 5000.0)
    args = ["run", str(path), "--no-plots", "--jobs", "1"]
    code, _, err = orchsim(capsys, *args, "--seeds", "4", "--out", str(tmp_path / "a"))
    assert code == 0, err  # 4 runs, ~4.8e3 events: within
    code, _, err = orchsim(capsys, *args, "--seeds", "5", "--out", str(tmp_path / "b"))
    assert code == 2 and "s.yaml: --seeds 5: 5 runs (5 seeds) would need ~6e+03 simulation events in all" in err, err
    assert "over the limit of 5e+03 (~1.2e+03 a run, driven by workload.rate)" in err and "--force" in err
    assert not (tmp_path / "b").exists()
    code, _, err = orchsim(capsys, *args, "--seeds", "5", "--out", str(tmp_path / "c"), "--force")
    assert code == 0 and (tmp_path / "c" / "summary.json").exists(), err


def test_run_seeds_total_counts_the_baseline_of_each_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(GOOD + "baseline: [workload.rate=0.5]\n")  # ~1.2e3 + ~600 events per seed
    monkeypatch.setattr(cost, "TOTAL_EVENTS", 5000.0)
    args = ["run", str(path), "--seeds", "3", "--no-plots", "--jobs", "1"]
    code, _, err = orchsim(capsys, *args, "--out", str(tmp_path / "a"))
    assert code == 2 and "--seeds 3: 6 runs (3 seeds x 2, the scenario and its baseline) would need ~5.4e+03" in err
    code, _, err = orchsim(capsys, *args, "--no-baseline", "--out", str(tmp_path / "b"))
    assert code == 0, err  # without the baseline, 3 runs: ~3.6e3 events, within


def test_many_large_clusters_are_refused_on_memory_naming_the_biggest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clusters = ", ".join(f"{{name: c{i}, servers: {100_000 if i == 7 else 90_000}}}" for i in range(10))
    path = tmp_path / "wide.yaml"
    path.write_text(GOOD.replace("clusters: [{name: c, servers: 1}]", f"clusters: [{clusters}]"))
    code, _, err = orchsim(capsys, "run", str(path), "--out", str(tmp_path / "out"))
    assert code == 2 and "wide.yaml: clusters.7.servers: the run would need" in err and "bytes of memory" in err


def test_stacked_surges_multiply_the_estimate_as_they_multiply_the_arrivals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    surges = ", ".join("{at: 1, duration: 1, factor: 1000}" for _ in range(3))  # arrivals drawn at 1e9/s
    path = tmp_path / "s.yaml"
    path.write_text(GOOD.replace("workload: {rate: 1}", f"workload: {{rate: 1, surges: [{surges}]}}"))
    code, _, err = orchsim(capsys, "run", str(path), "--out", str(tmp_path / "out"))
    assert code == 2 and "s.yaml: workload.rate x workload.surges: the run would need ~1.2e+12" in err, err


DAY = GOOD.replace("duration: 100", "duration: 24h")  # 8.64e4 requests, fine; at 1 ms windows 8.64e7 rows


def no_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any run started fails the test: a refusal comes before the first one."""

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("a run started")

    monkeypatch.setattr(sim.cli.commands, "run_tasks", refused)
    monkeypatch.setattr(sim.cli.commands, "run_sweep", refused)
    monkeypatch.setattr(sim.cli.commands, "run_comparison", refused)
    monkeypatch.setattr(sim.cli.commands, "run_phase", refused)


def test_sweep_estimates_every_point_and_names_the_one_over_the_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "day.yaml"
    path.write_text(DAY)
    no_runs(monkeypatch)
    out = tmp_path / "out"
    code, _, err = orchsim(capsys, "sweep", str(path), "--grid", "window=1m,1ms", "--seeds", "1", "--out", str(out))
    assert code == 2 and "day.yaml: point window=1ms: window: the run would need ~8.64e+07 time-series rows" in err
    assert "2 runs" in err and "--force" in err and not out.exists()


def test_sweep_over_the_total_is_refused_and_force_runs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(GOOD)
    monkeypatch.setattr(cost, "TOTAL_EVENTS", 5000.0)  # each run ~1.2e3-2.4e3 events: 6 runs ~1e4 in all
    grid = ["--grid", "workload.rate=1,1.5,2", "--seeds", "2", "--jobs", "1", "--no-plots"]
    code, _, err = orchsim(capsys, "sweep", str(path), *grid, "--out", str(tmp_path / "a"))
    assert code == 2 and "s.yaml: 6 runs (3 x 2 seeds) would need ~1.08e+04 simulation events in all" in err, err
    assert "the largest is point workload.rate=2 (~2.4e+03, driven by workload.rate)" in err
    code, out, err = orchsim(capsys, "sweep", str(path), *grid, "--out", str(tmp_path / "b"), "--force")
    assert code == 0 and "estimate: 6 runs, ~1.08e+04 events in all; the largest, point workload.rate=2" in out, err


def test_compare_estimates_every_row_and_names_the_variant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "day.yaml"
    path.write_text(DAY)
    no_runs(monkeypatch)
    args = ["compare", str(path), "--strategies", "random", "--variant", "big", "workload.rate=1000", "--seeds", "1"]
    code, _, err = orchsim(capsys, *args, "--out", str(tmp_path / "out"))
    assert code == 2 and "day.yaml: row big: workload.rate: the run would need ~3.46e+10 bytes of memory" in err, err
    assert "row random" not in err and not (tmp_path / "out").exists()


def test_phase_estimates_every_cell_and_names_the_largest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "day.yaml"
    path.write_text(DAY.replace("rate: 1}", "rate: 100}"))  # a surge of x1000 draws arrivals at 1e5/s all day
    no_runs(monkeypatch)
    args = ["phase", str(path), "--magnitudes", "2,1000", "--durations", "1s", "--seeds", "1"]
    code, _, err = orchsim(capsys, *args, "--out", str(tmp_path / "out"))
    assert code == 2 and "day.yaml: cell 1000 x 1s: workload.rate x workload.surges: the run would need" in err, err
    assert "cell 2 x" not in err and not (tmp_path / "out").exists()


def test_capacity_refuses_a_range_end_over_the_limits_before_any_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "day.yaml"
    path.write_text(DAY)
    no_runs(monkeypatch)
    args = ["capacity", str(path), "--param", "workload.rate", "--target", "availability>=0.9", "--range", "1:1000"]
    code, out, err = orchsim(capsys, *args, "--out", str(tmp_path / "out"))
    assert "estimate per run at workload.rate=1: ~8.64e+04 requests" in out
    assert code == 2 and "day.yaml: --param workload.rate=1000.0: workload.rate: the run would need" in err, err
    assert "--range LO:HI to search elsewhere" in err and not (tmp_path / "out").exists()


def test_capacity_refuses_a_value_its_search_reaches_over_the_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(GOOD)
    monkeypatch.setitem(cost.LIMITS, "events", 1e4)  # rate 1: 1.2e3 events; doubling passes 1e4 at rate 16
    args = ["capacity", str(path), "--param", "workload.rate", "--target", "availability>=0", "--maximize"]
    code, _, err = orchsim(capsys, *args, "--seeds", "1", "--jobs", "1", "--out", str(tmp_path / "a"))
    assert code == 2 and "s.yaml: --param workload.rate=16.0: workload.rate: the run would need ~1.92e+04" in err, err
    code, _, err = orchsim(
        capsys, *args, "--seeds", "1", "--jobs", "1", "--range", "1:32", "--out", str(tmp_path / "b"), "--force"
    )
    assert code == 0 and (tmp_path / "b" / "capacity.json").exists(), err
