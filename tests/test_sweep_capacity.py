"""orchsim sweep and capacity: grids, validation, resumable results, Dask, agreement with Erlang C."""

from __future__ import annotations

import csv
import json
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import distributed
import pyarrow.parquet as pq
import pytest
import yaml

from sim.analysis.summary import SummaryError
from sim.experiments.capacity import Clause, Evaluation, parse_range, parse_target, search
from sim.experiments.sweep import Grid, SweepRecord, load_results, parse_grid, task_key
from sim.output.outputs import write_json
from tests import theory
from tests.conftest import base_summary, interrupt_on_hold, orchsim

MMC = {
    "name": "mmc8",
    "duration": "1h",
    "warmup": "5m",
    "seed": 1,
    "workload": {"rate": 8},
    "clusters": [{"name": "pool", "servers": 9, "service": {"kind": "exponential", "mean": 1}}],
    "router": {"strategy": "central_queue"},
}
WALL = ("wall_s", "requests_per_wall_s")


@pytest.fixture
def mmc(tmp_path: Path) -> Path:
    path = tmp_path / "mmc8.yaml"
    path.write_text(yaml.safe_dump(MMC))
    return path


def rows(path: Path) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k not in WALL} for r in csv.DictReader(path.read_text().splitlines())]


def test_grid_values_and_ranges() -> None:
    grid = parse_grid(["workload.rate=50:300:125", "router.strategy=random,power_of_two", "x=0.5:1.0:0.25"])
    assert grid.values == [[50, 175, 300], ["random", "power_of_two"], [0.5, 0.75, 1.0]]
    assert len(grid.points()) == 18
    assert grid.points()[1] == {"workload.rate": 50, "router.strategy": "random", "x": 0.75}


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ([], "at least one"),
        (["a=5:1:1"], "empty range"),
        (["a=1:5:0"], "empty range"),
        (["a"], "expected PATH"),
        (["a=x:y:z"], "needs numbers"),
        (["a=1,2", "a=3"], "given twice"),
    ],
)
def test_bad_grids_are_refused(texts: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_grid(texts)


def test_targets_and_ranges_parse() -> None:
    assert parse_target("availability>=0.999 and latency_s.p99<=20") == [
        Clause("availability", ">=", 0.999),
        Clause("latency_s.p99", "<=", 20.0),
    ]
    assert Clause("availability", ">=", 0.99).met({"mean": 0.995, "ci_low": 0.98, "ci_high": 1.0}) is False
    assert Clause("latency_s.p99", "<=", 20).met({"mean": 10.0, "ci_low": 5.0, "ci_high": 19.0}) is True
    for bad, message in (("availability>>1", "cannot read"), ("speed<=3", "unknown metric"), ("", "cannot read")):
        with pytest.raises(ValueError, match=message):
            parse_target(bad)
    assert parse_range("8:16", integer=True) == (8.0, 16.0)
    with pytest.raises(ValueError, match="LO < HI"):
        parse_range("16:8", integer=True)


def test_sweep_writes_results_and_resumes(mmc: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = [
        "sweep",
        str(mmc),
        "--grid",
        "clusters.0.servers=9:11:1",
        "--grid",
        "router.strategy=central_queue,random",
        "--seeds",
        "2",
        "--jobs",
        "2",
        "--out",
        str(out),
    ]
    first = orchsim(*args)
    assert first.returncode == 0, first.stderr
    assert "12 runs: 0 already done, 12 new, 0 failed" in first.stdout
    table = rows(out / "sweep.csv")
    assert len(table) == 12
    assert {"clusters.0.servers", "router.strategy", "seed", "availability", "latency_s.p99"} <= set(table[0])
    aggregate = rows(out / "sweep_aggregate.csv")
    assert len(aggregate) == 6 and "wait_s.mean.ci_low" in aggregate[0]
    assert (out / "sweep_heatmap.png").read_bytes()[:4] == b"\x89PNG"
    parquet = pq.read_table(out / "sweep.parquet")
    assert parquet.num_rows == 12 and "latency_s.p99" in parquet.column_names
    removed = sorted((out / "points").glob("*.json"))[:3]
    for file in removed:
        file.unlink()
    again = orchsim(*args)
    assert again.returncode == 0, again.stderr
    assert "12 runs: 9 already done, 3 new, 0 failed" in again.stdout
    assert rows(out / "sweep.csv") == table


def test_saved_records_are_read_back_typed_and_a_bad_one_is_named(tmp_path: Path) -> None:
    grid = Grid(["clusters.0.servers"], [[2, 3]])
    (tmp_path / "points").mkdir()
    record = SweepRecord({"clusters.0.servers": 2}, 1, base_summary())
    write_json(tmp_path / "points" / f"{task_key(record.point, 1)}.json", record.to_dict())
    [read] = load_results(tmp_path, grid, [1, 2])  # the other point and seed are not done yet
    assert read == record and read.summary.requests.offered == base_summary().requests.offered
    bad = tmp_path / "points" / f"{task_key({'clusters.0.servers': 3}, 1)}.json"
    document = record.to_dict()
    del document["summary"]["availability"]
    write_json(bad, document)
    with pytest.raises(SummaryError, match=rf"{bad.name}: summary: missing availability"):
        load_results(tmp_path, grid, [1])


def test_a_grid_mixing_numbers_and_durations_keeps_its_parquet(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    done = orchsim("sweep", str(tiny), "--grid", "window=50,1m", "--seeds", "1", "--jobs", "1", "--out", str(out))
    assert done.returncode == 0, done.stderr  # pyarrow refused a column of 50 and '1m' (exit 1, no table)
    assert pq.read_table(out / "sweep.parquet").column("window").to_pylist() == ["50", "1m"]


def test_sweep_refuses_bad_points_before_running(mmc: Path, tmp_path: Path) -> None:
    done = orchsim("sweep", str(mmc), "--grid", "clusters.0.servers=4,0", "--out", str(tmp_path / "never"))
    assert done.returncode == 2
    assert "clusters.0.servers: must be greater than 0 (got 0) [at point clusters.0.servers=0]" in done.stderr
    assert not (tmp_path / "never").exists()
    missing = orchsim("sweep", str(mmc), "--grid", "clusters.0.nonsense=1,2", "--out", str(tmp_path / "never"))
    assert missing.returncode == 2 and "unknown field" in missing.stderr
    empty = orchsim("sweep", str(mmc), "--grid", "workload.rate=5:1:1", "--out", str(tmp_path / "never"))
    assert empty.returncode == 2 and "empty range" in empty.stderr
    assert not (tmp_path / "never").exists()


def test_sweep_folder_of_another_sweep_is_refused(mmc: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "s")
    assert orchsim("sweep", str(mmc), "--grid", "workload.rate=7,8", "--seeds", "1", "--out", out).returncode == 0
    other = orchsim("sweep", str(mmc), "--grid", "workload.rate=6", "--seeds", "1", "--out", out)
    assert other.returncode == 2 and "holds a different sweep" in other.stderr


def test_unreachable_dask_scheduler_exits_2(mmc: Path, tmp_path: Path) -> None:
    done = orchsim(
        "sweep", str(mmc), "--grid", "workload.rate=7", "--executor", "dask://127.0.0.1:9", "--out", str(tmp_path / "d")
    )
    assert done.returncode == 2
    assert "cannot reach the Dask scheduler" in done.stderr
    bad = orchsim(
        "sweep", str(mmc), "--grid", "workload.rate=7", "--executor", "spark://x", "--out", str(tmp_path / "e")
    )
    assert bad.returncode == 2 and "expected dask://HOST:PORT" in bad.stderr


@pytest.fixture
def dask_scheduler() -> Iterator[str]:
    """A LocalCluster of two worker processes on 127.0.0.1, stopped at the end even on failure."""
    cluster = distributed.LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    with cluster:
        yield "dask://" + cluster.scheduler_address.removeprefix("tcp://")


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning", "ignore::UserWarning")
def test_dask_sweep_equals_local_sweep(mmc: Path, tmp_path: Path, dask_scheduler: str) -> None:
    grid = ["--grid", "clusters.0.servers=9,10", "--grid", "router.strategy=central_queue,power_of_two"]
    local = orchsim("sweep", str(mmc), *grid, "--seeds", "2", "--jobs", "2", "--no-plots", "--out", str(tmp_path / "l"))
    assert local.returncode == 0, local.stderr
    remote = orchsim(
        "sweep",
        str(mmc),
        *grid,
        "--seeds",
        "2",
        "--executor",
        dask_scheduler,
        "--no-plots",
        "--out",
        str(tmp_path / "d"),
    )
    assert remote.returncode == 0, remote.stderr
    assert rows(tmp_path / "d" / "sweep.csv") == rows(tmp_path / "l" / "sweep.csv")


def test_capacity_finds_the_erlang_c_answer(mmc: Path, tmp_path: Path) -> None:
    """M/M/c at 8 requests/s, mean service 1 s, mean wait <= 0.15 s: Erlang C says 11 servers."""
    expected = theory.smallest_servers(8.0, 1.0, 0.15)
    assert expected == 11
    done = orchsim(
        "capacity",
        str(mmc),
        "--param",
        "clusters.0.servers",
        "--target",
        "wait_s.mean<=0.15",
        "--seeds",
        "3",
        "--set",
        "duration=3h",
        "--out",
        str(tmp_path / "cap"),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "cap" / "capacity.json").read_text())
    assert result["value"] == expected and result["met"] is True
    assert len(result["evaluations"]) < 8  # fewer runs than the 10-value grid 9..18
    assert result["target"] == "wait_s.mean<=0.15"


def test_capacity_bad_input_exits_2(mmc: Path, tmp_path: Path) -> None:
    base = ["capacity", str(mmc), "--out", str(tmp_path / "never")]
    for args, message in (
        (["--param", "clusters.0.servers", "--target", "wait<=1"], "unknown metric"),
        (["--param", "clusters.0.servers", "--target", "wait_s.mean=1"], "cannot read"),
        (["--param", "clusters.0.servers", "--target", "wait_s.mean<=1", "--range", "9:x"], "--range"),
        (["--param", "clusters.0.nope", "--target", "wait_s.mean<=1"], "clusters.0.nope: unknown field"),
        (["--param", "clusters.3.servers", "--target", "wait_s.mean<=1"], "clusters.3: no such list index"),
        (
            ["--param", "clusters.0.servers", "--target", "wait_s.mean<0", "--seeds", "1", "--set", "duration=10m"],
            "give --range LO:HI",
        ),
    ):
        done = orchsim(*base, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "never").exists()


def fake_evaluate(threshold: float, maximize: bool = False) -> Callable[[float], Evaluation]:
    """A target met at or above ``threshold`` (or, for ``maximize``, at or below it)."""

    def evaluate(value: float) -> Evaluation:
        met = value <= threshold if maximize else value >= threshold
        return Evaluation(value, met, {})

    return evaluate


@pytest.mark.parametrize("start", [1.0, 5.0, 37.0, 500.0])
def test_search_finds_the_smallest_integer_from_any_start(start: float) -> None:
    answer, path = search(fake_evaluate(37), start, None, integer=True)
    assert answer == 37
    assert len(path) <= 2 * 10 + 2


def test_search_maximize_and_real_values_and_ranges() -> None:
    answer, _ = search(fake_evaluate(123, maximize=True), 10, None, integer=True, maximize=True)
    assert answer == 123
    real, _ = search(fake_evaluate(2.5), 1.0, None, integer=False, tolerance=0.001)
    assert real is not None and 2.5 <= real <= 2.5 * 1.001
    assert search(fake_evaluate(50), 1, (1, 40), integer=True)[0] is None  # nothing in range meets it
    assert search(fake_evaluate(5), 1, (10, 40), integer=True)[0] == 10  # the whole range meets it


def test_interrupted_sweep_keeps_results_and_says_how_to_resume(mmc: Path, tmp_path: Path) -> None:
    out = tmp_path / "s"
    command = [
        sys.executable,
        "-m",
        "sim",
        "sweep",
        str(mmc),
        "--grid",
        "workload.rate=6:8:0.25",
        "--seeds",
        "2",
        "--jobs",
        "1",
        "--set",
        "duration=10m",
        "--no-plots",
        "--out",
        str(out),
    ]
    # the sweep holds after its first saved result: it cannot finish before the signal
    code, held, stderr = interrupt_on_hold(command, tmp_path / "hold", signal.SIGINT)
    assert held == "sweep result saved" and code == 130, stderr
    assert "Resume with the same command" in stderr
    finished = len(list((out / "points").glob("*.json")))
    assert finished == 1
    assert len(rows(out / "sweep.csv")) == finished
    resumed = orchsim(*command[3:])
    assert resumed.returncode == 0, resumed.stderr
    assert f"18 runs: {finished} already done, {18 - finished} new, 0 failed" in resumed.stdout
