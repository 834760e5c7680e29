"""orchsim validate and the locustfiles: real mock processes and locust on loopback, each test bounded.

Every process is started through ``orchsim`` or ``locust`` subprocesses that stop their own
children; the tests check that nothing mentioning their output folder is left running.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadtest.measured import measured_result
from loadtest.overhead import measure_overhead
from loadtest.records import Record, read_records
from loadtest.verdict import Row, parse_tolerances, with_noise
from sim.scenario.loading import load_scenario
from sim.scenario.paths import scenarios_dir
from sim.workload.trace import generate_trace
from tests.conftest import interrupt_on_hold, orchsim
from tests.test_mock_service import on_free_ports, refused_url, serving

LIMIT_S = 150  # hard bound of one validate run (the runs themselves take 40-60 s)


def leftovers(marker: str) -> list[str]:
    """Command lines of live processes that mention ``marker`` (an output folder)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in text and "pytest" not in text:
            found.append(text)
    return found


def validate(tmp_path: Path, scenario: str, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``orchsim validate`` of a shipped scenario into ``tmp_path/out``; its exit and validation.json."""
    out = tmp_path / "out"
    path = scenarios_dir() / scenario

    def attempt(port: int) -> subprocess.CompletedProcess[str]:
        command = ["validate", str(path), "--out", str(out), "--port", str(port), *args]
        return orchsim(*command, "--overwrite", timeout_s=LIMIT_S)  # a second attempt replaces the first

    done = on_free_ports(3, attempt, lambda done: done.stderr)
    assert not leftovers(str(out))
    report = json.loads((out / "validation.json").read_text()) if (out / "validation.json").exists() else {}
    if report.get("verdict") == "inconclusive":
        skip_starved(done, report)
    return done, report


def skip_starved(done: subprocess.CompletedProcess[str], report: dict[str, Any]) -> None:
    """An inconclusive run (the machine starved the load generator, mock and router: their lateness p99
    beyond a mean service time changes outcomes, not just latencies) says so, with exit 3 and every row
    written; the model cannot be judged on it, so the test is skipped, saying why."""
    apparatus = report["apparatus"]
    assert done.returncode == 3, done.stdout + done.stderr
    assert apparatus["starved"] and apparatus["lateness_p99_real_s"] > apparatus["bound_real_s"]
    assert "load generator starved" in done.stdout and len(report["rows"]) >= 6
    pytest.skip(
        f"inconclusive: apparatus lateness p99 {1000 * apparatus['lateness_p99_real_s']:.0f} ms real > "
        f"{1000 * apparatus['bound_real_s']:.0f} ms (the machine starved the load generator; "
        f"load {os.getloadavg()[0]:.1f})"
    )


def row(report: dict[str, Any], metric: str) -> dict[str, Any]:
    return next(r for r in report["rows"] if r["metric"] == metric)


def assert_within_the_issues_tolerances(report: dict[str, Any]) -> None:
    """Throughput and latency percentiles within 10% (latency: or the 0.05 s floor), availability
    and error shares within 2 points: the stated defaults alone, not the noise band (``pass*``)."""
    strict = [
        r for r in report["rows"] if r["metric"].startswith(("throughput", "availability", "errors.", "latency_s."))
    ]
    assert len(strict) >= 6
    leaning = [r["metric"] for r in strict if r["within_noise_only"] or not r["pass"]]
    assert not leaning, leaning


# Every row within its tolerance is a measurement that needs the machine to itself, like the balancer
# runs and the benchmarks: the `every-row` variants are slow tests (`pytest -m slow`), run on a quiet
# machine. The default run keeps the same end-to-end runs and judges each row within twice its
# tolerance (or noise band): a broken model or measurement fails that; the 10-12% tails a busy
# machine gives a least_connections wait p95 or a p99 at 10-70 ms of apparatus lateness do not. A
# model off by 10-20% is caught deterministically by tests/test_path_delay.py (a synthetic lagging
# apparatus: the right model passes every row, 20% slower service fails the four latency rows).
STRICTNESS = [pytest.param(False, id="within-2x"), pytest.param(True, id="every-row", marks=pytest.mark.slow)]


def judge(done: subprocess.CompletedProcess[str], report: dict[str, Any], strict: bool) -> None:
    """Strict: exit 0 and the issue's rows within the stated tolerances alone. Otherwise: every row
    within twice its tolerance or noise band, whatever the exit (0 or 1)."""
    if strict:
        assert done.returncode == 0, done.stdout + done.stderr
        assert report["pass"] is True
        assert_within_the_issues_tolerances(report)
        return
    assert done.returncode in (0, 1), done.stdout + done.stderr
    far = [r["metric"] for r in report["rows"] if not within(r, 2.0)]
    assert not far, (far, done.stdout)


def within(r: dict[str, Any], factor: float) -> bool:
    """A row of validation.json passes with ``factor`` times its tolerance, floor and noise band."""
    tolerance, floor, band = (factor * r[key] for key in ("tolerance", "floor", "noise_band"))
    return Row(r["metric"], r["simulated"], r["measured"], r["kind"], tolerance, floor, band).passed


@pytest.mark.parametrize("strict", STRICTNESS)
def test_steady_load_every_row_within_tolerance(tmp_path: Path, strict: bool) -> None:
    done, report = validate(tmp_path, "validate-steady.yaml")
    judge(done, report, strict)
    assert {"metric", "simulated", "measured", "difference", "tolerance", "pass"} <= set(report["rows"][0])
    assert row(report, "availability")["measured"] == 1.0
    assert row(report, "ttft_s.p95")["pass"] or not strict
    assert "HTTP overhead at low load" in done.stdout
    for name in ("validation_throughput.png", "validation_cdf.png", "measured_requests.csv", "simulated_attempts.csv"):
        assert (tmp_path / "out" / name).stat().st_size > 0


@pytest.mark.parametrize("strict", STRICTNESS)
def test_surge_overloads_and_both_sides_see_the_503s(tmp_path: Path, strict: bool) -> None:
    done, report = validate(tmp_path, "validate-surge.yaml", "--no-plots")
    share = row(report, "errors.503 (share)")
    assert share["simulated"] > 0.03 and share["measured"] > 0.03
    judge(done, report, strict)


@pytest.mark.parametrize("strict", STRICTNESS)
def test_crash_with_retries(tmp_path: Path, strict: bool) -> None:
    """Both sides fail the attempts the crashed servers held with 500 and refuse those sent to them
    before the health checks notice with 503: the same codes, attempt by attempt (no 502, no 599)."""
    done, report = validate(tmp_path, "validate-crash.yaml", "--no-plots")
    amplification = row(report, "retry_amplification")
    assert amplification["simulated"] > 1.0 and amplification["measured"] > 1.0
    judge(done, report, strict)
    measured = _codes(tmp_path / "out" / "measured_requests.csv", "status")
    simulated = _codes(tmp_path / "out" / "simulated_attempts.csv", "code")
    assert set(measured) == set(simulated) == {200, 500, 503}, (measured, simulated)


def _codes(path: Path, column: str) -> dict[int, int]:
    """Attempts per status code in a records CSV."""
    with path.open(newline="") as handle:
        codes = [int(float(r[column])) for r in csv.DictReader(handle)]
    return {code: codes.count(code) for code in sorted(set(codes))}


@pytest.mark.parametrize("strict", STRICTNESS)
def test_two_strategies_rank_the_same_measured_and_simulated(tmp_path: Path, strict: bool) -> None:
    """Every row within tolerance for both strategies (strict: the issue's rows without the noise
    band), and the same ranking on both sides. Under least_connections at 75% load this needs the
    mock's slots to keep their schedule when the event loop is late (TTFT p99 was +12.8% in a CI run
    before; wait p95 +10.4% at 12 ms of lateness with two suites at once, 2026-12-02)."""
    means = {}
    for strategy in ("random", "least_connections"):
        done, report = validate(
            tmp_path / strategy, "validate-strategies.yaml", "--no-plots", "--set", f"router.strategy={strategy}"
        )
        judge(done, report, strict)
        mean = row(report, "latency_s.mean")
        means[strategy] = (mean["simulated"], mean["measured"])
    assert means["least_connections"][0] < means["random"][0]
    assert means["least_connections"][1] < means["random"][1]


SMALL = {
    "name": "small",
    "duration": "60s",
    "seed": 5,
    "workload": {"rate": 4},
    "clusters": [{"name": "a", "servers": 3, "slots": 2, "service": {"kind": "lognormal", "mean": "1s", "cv": 0.3}}],
    "router": {"strategy": "least_connections"},
    "clients": {"timeout": "20s"},
}


def locust_stats(prefix: Path) -> dict[tuple[str, str], dict[str, str]]:
    with Path(f"{prefix}_stats.csv").open(newline="") as handle:
        return {(r["Type"], r["Name"]): r for r in csv.DictReader(handle)}


def test_two_worker_processes_records_merged_and_agree_with_locust_csv(tmp_path: Path) -> None:
    scenario_path = tmp_path / "small.yaml"
    scenario_path.write_text(yaml.safe_dump(SMALL))
    locustfile = Path(__file__).parents[1] / "loadtest" / "locustfile.py"
    with serving(tmp_path, SMALL, "--time-scale", "10") as url:
        command = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--host", url]
        command += ["-u", "2", "-r", "2", "-t", "60s", "--processes", "2", "--csv", str(tmp_path / "run")]
        command += ["--scenario", str(scenario_path), "--time-scale", "10", "--stream", "--only-summary"]

        def attempt(port: int) -> subprocess.CompletedProcess[str]:
            # the master's port on loopback, checked free: locust's default 5557 is shared by every
            # run on the machine, and another suite's workers joined this master (index 2 of 2 shards)
            master = ["--master-bind-host", "127.0.0.1", "--master-bind-port", str(port), "--master-port", str(port)]
            return subprocess.run(
                command + master, capture_output=True, text=True, timeout=90, cwd=tmp_path, check=False
            )

        done = on_free_ports(1, attempt, lambda d: d.stdout + d.stderr)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]  # locust's error report is in stdout
    assert "records of 2 of 2 workers merged" in done.stdout + done.stderr
    records = read_records(tmp_path / "run_requests.csv")
    trace = generate_trace(load_scenario(scenario_path))
    assert sorted({r.req for r in records}) == list(range(len(trace)))  # both shards, nothing twice
    stats = locust_stats(tmp_path / "run")
    posts = [r for (kind, _), r in stats.items() if kind == "POST"]
    assert sum(int(r["Request Count"]) for r in posts) == len(records)
    assert sum(int(r["Failure Count"]) for r in posts) == sum(r.status != 200 for r in records)
    ttft = [r for (kind, _), r in stats.items() if kind == "TTFT"]
    assert sum(int(r["Request Count"]) for r in ttft) == sum(r.status == 200 for r in records)


def test_overhead_probe_reads_streams_to_the_first_token_and_plain_answers_whole(tmp_path: Path) -> None:
    """The low-load probe sends as the run sends: streamed, it finds the first token's overhead too."""
    with serving(tmp_path, SMALL, "--time-scale", "10") as url:
        streamed = measure_overhead(url, 5, 8, stream=True)
        plain = measure_overhead(url, 5, 8, stream=False)
    assert streamed.first_token_s is not None and 0.0 < streamed.first_token_s < 0.5  # ms, unless very busy
    assert 0.0 < streamed.answer_s < 0.5 and 0.0 < plain.answer_s < 0.5
    assert plain.first_token_s is None and plain.samples == streamed.samples == 5
    with refused_url() as refusing:
        nobody = measure_overhead(refusing, 2, 8, stream=True)  # refused: no samples
    assert (nobody.samples, nobody.answer_s, nobody.first_token_s) == (0, 0.0, None)


def test_missing_scenario_and_bad_tolerance_are_usage_errors(tmp_path: Path) -> None:
    missing = orchsim("validate", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "a"))
    assert missing.returncode == 2 and "nope.yaml" in missing.stderr
    steady = str(scenarios_dir() / "validate-steady.yaml")
    bad = orchsim("validate", steady, "--tolerance", "latency=lots", "--out", str(tmp_path / "b"))
    assert bad.returncode == 2 and "--tolerance 'latency=lots'" in bad.stderr


def test_port_in_use_is_reported_and_nothing_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = orchsim("validate", "--port", str(port), "--out", str(tmp_path / "out"), timeout_s=60)
    assert done.returncode == 2 and "already in use" in done.stderr
    assert not leftovers(str(tmp_path / "out"))


def test_mock_never_ready_stops_everything(tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    done = on_free_ports(
        3,
        lambda port: orchsim("validate", "--port", str(port), "--ready-timeout", "0.01", "--out", out, timeout_s=60),
        lambda done: done.stderr,
    )
    assert done.returncode == 1 and "not ready within" in done.stderr
    assert not leftovers(str(tmp_path / "out"))


def test_locust_failing_is_reported_and_stops_the_mock(tmp_path: Path) -> None:
    broken = tmp_path / "broken_locustfile.py"
    broken.write_text("raise RuntimeError('this locustfile is broken')\n")
    out = str(tmp_path / "out")
    done = on_free_ports(
        3,
        lambda port: orchsim("validate", "--port", str(port), "--locustfile", str(broken), "--out", out, timeout_s=90),
        lambda done: done.stderr,
    )
    assert done.returncode == 1 and "locust exited with code" in done.stderr
    assert not leftovers(str(tmp_path / "out"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_every_process(tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "out"

    def attempt(port: int) -> tuple[int, str, str]:
        command = [sys.executable, "-m", "sim", "validate", "--port", str(port), "--out", str(out), "--no-plots"]
        # validate holds once locust runs: the signal lands mid-run, never after the end
        return interrupt_on_hold(command, tmp_path / "hold", sig, timeout_s=60)

    code, held, err = on_free_ports(3, attempt, lambda result: result[2])
    assert held == "locust started"
    assert code == 128 + sig, err  # 130 after Ctrl-C, 143 after SIGTERM
    assert not leftovers(str(out))


def test_the_default_runs_judge_a_row_within_twice_its_tolerance_or_band() -> None:
    """+18% passes at twice a 10% tolerance, +25% does not; the noise band doubles alike."""
    near = Row("latency_s.p99", 2.0, 2.36, "relative", 0.10).as_json()
    far = Row("latency_s.p99", 2.0, 2.5, "relative", 0.10).as_json()
    noisy = Row("latency_s.p99", 2.0, 2.5, "relative", 0.10, noise_band=0.26).as_json()
    assert not near["pass"] and within(near, 2.0)
    assert not within(far, 2.0) and within(noisy, 2.0) and not within(noisy, 1.0)
    # a wait p95 of 0 simulated against 0.012 s measured: within the 0.05 s floor, at any factor
    waits = Row("wait_s.p95", 0.0, 0.012, "relative", 0.10, 0.05).as_json()
    assert waits["pass"] and within(waits, 2.0)


def test_rows_pass_within_tolerance_floor_or_noise_and_say_which() -> None:
    assert Row("latency_s.p99", 2.0, 2.19, "relative", 0.10).passed
    assert not Row("latency_s.p99", 2.0, 2.21, "relative", 0.10).passed
    assert Row("wait_s.mean", 0.01, 0.05, "relative", 0.10, floor=0.05).passed  # +400% but within the floor
    assert Row("availability", 0.99, 0.975, "absolute", 0.02).difference == pytest.approx(-0.015)
    noisy = Row("wait_s.p95", 0.30, 0.24, "relative", 0.10, noise_band=0.08)
    assert noisy.passed and noisy.within_noise_only
    assert not Row("x", None, 1.0, "relative", 0.1).passed and Row("x", None, None, "relative", 0.1).passed
    banded = with_noise([Row("m", 1.0, 1.0, "relative", 0.1)], {"m": [1.0, 1.2, None]}, 2.0)
    # the mean of the run's seed and the two others; 2 x their spread x sqrt(1 + 1/3)
    assert banded[0].simulated == pytest.approx(3.2 / 3)
    assert banded[0].noise_band == pytest.approx(2 * 0.1154700538 * (4 / 3) ** 0.5)
    assert (banded[0].runs, banded[0].seed_value, banded[0].as_json()["simulated_seed"]) == (3, 1.0, 1.0)
    assert with_noise([Row("m", None, None, "relative", 0.1)], {"m": [1.0, 1.2]}, 2.0)[0].simulated is None


def test_a_seed_drawn_high_is_judged_by_the_mean_of_the_seeds_not_by_itself() -> None:
    """nginx's random two on validate-strategies (2026-12-02 17:43 UTC): latency p99 3.41 s measured; the
    run's own seed simulated 3.98 s (+17%: a fail), while its seeds' mean is near 3.75 s (-9%: a pass)."""
    alone = Row("latency_s.p99", 3.98, 3.41, "relative", 0.10)
    others = [3.55, 3.62, 3.70, 3.74, 3.76, 3.78, 3.80, 3.66, 3.59, 3.71]
    judged = with_noise([alone], {"latency_s.p99": list(others)}, 2.0)[0]
    assert not alone.passed
    assert judged.passed and judged.simulated == pytest.approx((3.98 + sum(others)) / 11)
    # a model off by 25% still fails: the mean moves with it and the band stays the seeds' spread
    off = with_noise(
        [Row("latency_s.p99", 1.25 * 3.98, 3.41, "relative", 0.10)], {"latency_s.p99": [1.25 * v for v in others]}, 2.0
    )
    assert not off[0].passed


def test_tolerances_parse_and_reject_bad_items() -> None:
    tol = parse_tolerances(["latency=0.2", "floor=0.01", "errors=0"])
    assert (tol.latency, tol.floor_s, tol.errors, tol.throughput) == (0.2, 0.01, 0.0, 0.10)
    for bad in ("latency", "speed=1", "latency=-1", "latency=x"):
        with pytest.raises(ValueError, match="--tolerance"):
            parse_tolerances([bad])


def test_measured_records_become_requests_with_their_last_attempt() -> None:
    scenario = load_scenario(scenarios_dir() / "validate-steady.yaml")
    nan = float("nan")
    records = [
        Record(0, 1, 0, 3.0, 3.0, 3.001, nan, 3.01, 503, 0, nan, nan),
        Record(0, 2, 0, 3.0, 3.05, 3.051, 3.06, 3.2, 200, 8, 0.002, 0.1),
        Record(7, 1, 0, 4.0, 4.0, 4.001, nan, nan, 0, 0, nan, nan),
    ]
    result = measured_result(scenario, 11, records, time_scale=10.0)
    assert result.arrival_s.tolist() == [30.0, 40.0]
    assert result.req_code.tolist() == [200, 0]  # the second is still in flight
    assert result.req_end_s[0] == pytest.approx(32.0) and math.isnan(result.req_end_s[1])
    assert result.req_attempts.tolist() == [2, 1]
    assert result.attempts["start_s"][1] - result.attempts["sent_s"][1] == pytest.approx(0.02)


def test_locustfile_without_a_valid_scenario_stops_at_start_up(tmp_path: Path) -> None:
    locustfile = Path(__file__).parents[1] / "loadtest" / "locustfile.py"
    command = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", "1", "-t", "5s"]
    command += ["--host", "http://127.0.0.1:9"]
    for extra, message in (([], "give a scenario"), (["--scenario", str(tmp_path / "none.yaml")], "none.yaml")):
        env = {k: v for k, v in os.environ.items() if k != "ORCHSIM_SCENARIO"}
        done = subprocess.run([*command, *extra], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
        assert done.returncode != 0 and message in done.stderr
