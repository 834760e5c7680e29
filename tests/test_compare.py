"""orchsim compare: variants, statistics, determinism over job counts, files, bad input."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import sim.experiments.compare
from sim.analysis.metric_registry import check_metric
from sim.analysis.metrics import summarize
from sim.analysis.stats import mean_ci
from sim.analysis.summary import flatten
from sim.engine import simulate
from sim.experiments.compare import (
    Comparison,
    Mitigation,
    RowRun,
    Variant,
    parse_variants,
    run_comparison,
    run_one,
    shared_trace,
    variant_scenarios,
)
from sim.workload.trace import generate_trace
from tests.conftest import base_summary, orchsim

SMALL = {
    "name": "cmp",
    "duration": "20m",
    "warmup": "1m",
    "seed": 11,
    "workload": {"rate": 18},
    "clusters": [{"name": "a", "servers": 20, "service": {"kind": "exponential", "mean": 1}}],
    "clients": {"timeout": "20s"},
}
WALL_CLOCK = ("wall_s", "requests_per_wall_s")


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "cmp.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    return path


def test_parse_variants_with_parameters() -> None:
    variants = parse_variants("random, peak_ewma:decay=10s,default_latency=2 ,power_of_d:d=3")
    assert variants == [
        Variant("random", "random", {}),
        Variant("peak_ewma:decay=10s,default_latency=2", "peak_ewma", {"decay": "10s", "default_latency": 2}),
        Variant("power_of_d:d=3", "power_of_d", {"d": 3}),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "at least one"), ("d=3,random", "before any strategy"), ("random,random", "listed twice")],
)
def test_parse_variants_refuses_nonsense(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_variants(text)


def test_rank_metric_must_exist() -> None:
    for good in ("availability", "latency_s.p99", "errors_by_code.503", "wait_s.mean"):
        check_metric(good)
    for bad in ("latency", "latency_s", "speed", "errors_by_code.x"):
        with pytest.raises(ValueError, match="unknown metric"):
            check_metric(bad)


def test_mean_ci_is_student_t() -> None:
    interval = mean_ci([1.0, 2.0, 3.0])
    assert interval["mean"] == 2.0
    assert interval["ci_high"] == pytest.approx(2.0 + 4.302653 * 1.0 / 3**0.5, rel=1e-6)
    assert mean_ci([5.0]) == {"mean": 5.0, "ci_low": None, "ci_high": None}


def fake_runs(values: dict[str, list[float | None]]) -> list[RowRun]:
    """Runs whose p99 latency is ``values[label][seed]`` (None: undefined, nothing succeeded)."""
    base = base_summary()
    return [
        RowRun(label, seed, replace(base, latency_s=replace(base.latency_s, p99=v)))
        for label, vs in values.items()
        for seed, v in enumerate(vs)
    ]


def test_ranking_claims_a_difference_only_when_the_paired_interval_excludes_zero() -> None:
    runs = fake_runs({"a": [1.0, 2.0, 3.0, 4.0], "b": [1.5, 2.5, 3.4, 4.6], "c": [2.0, 1.0, 4.0, 3.0]})
    comparison = Comparison(labels=["a", "b", "c"], seeds=[0, 1, 2, 3], runs=runs, rank_by="latency_s.p99")
    ranking = {row["strategy"]: row for row in comparison.ranking()}
    assert [row["strategy"] for row in comparison.ranking()] == ["a", "c", "b"]
    assert ranking["b"]["distinguishable"]  # always about +0.5 worse, per seed
    assert not ranking["c"]["distinguishable"]  # same mean, differences +1 -1 +1 -1


def test_flatten_names_figures_by_dotted_path() -> None:
    flat = flatten({"a": 1, "b": {"c": 2.5, "d": None}, "e": True, "f": "text"})
    assert flat == {"a": 1.0, "b.c": 2.5, "e": 1.0}


def test_compare_writes_outputs_and_does_not_depend_on_jobs(small: Path, tmp_path: Path) -> None:
    outputs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}"
        args = ["compare", str(small), "--strategies", "random,least_connections,power_of_d:d=2", "--seeds", "3"]
        done = orchsim(*args, "--jobs", jobs, "--out", str(out), *(["--no-plots"] if jobs == "1" else []))
        assert done.returncode == 0, done.stderr
        assert "common random numbers" in done.stdout
        outputs.append(json.loads((out / "comparison.json").read_text()))
    for document in outputs:
        for run in document["runs"]:
            for key in WALL_CLOCK:
                run["summary"].pop(key)
        for figures in document["strategies"].values():
            for key in WALL_CLOCK:
                figures.pop(key)
    assert outputs[0] == outputs[1]
    document = outputs[0]
    assert set(document["strategies"]) == {"random", "least_connections", "power_of_d:d=2"}
    assert set(document["strategies"]["random"]["latency_s.p99"]) == {"mean", "ci_low", "ci_high"}
    assert [r["seed"] for r in document["runs"] if r["strategy"] == "random"] == [11, 12, 13]
    best = document["ranking"][0]["strategy"]
    assert best != "random" or document["rank_by"] != "latency_s.mean"
    csv_rows = (tmp_path / "jobs2" / "comparison.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + 3 * 3 + 3 * 3  # header, strategy x seed, and mean/ci_low/ci_high per strategy
    for png in ("compare_bars.png", "latency_cdf.png", "compare_timeseries.png"):
        assert (tmp_path / "jobs2" / png).read_bytes()[:4] == b"\x89PNG"


def test_compare_ranks_least_connections_ahead_of_random_on_latency(small: Path, tmp_path: Path) -> None:
    done = orchsim(
        "compare",
        str(small),
        "--strategies",
        "random,least_connections",
        "--seeds",
        "3",
        "--rank-by",
        "latency_s.mean",
        "--out",
        str(tmp_path / "o"),
        "--no-plots",
    )
    assert done.returncode == 0, done.stderr
    ranking = json.loads((tmp_path / "o" / "comparison.json").read_text())["ranking"]
    assert [r["strategy"] for r in ranking] == ["least_connections", "random"]
    assert ranking[1]["distinguishable"] and ranking[1]["difference_to_best"]["ci_low"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategies", "fastest"], "unknown strategy; known: central_queue"),
        (["--strategies", "power_of_d:k=3"], "power_of_d takes no parameter 'k'"),
        (["--strategies", "random", "--seeds", "0"], "must be >= 1"),
        (["--strategies", "random", "--jobs", "-2"], "must be >= 0"),
        (["--strategies", "random", "--rank-by", "speed"], "unknown metric 'speed'"),
        ([], "give --strategies, --variant or both"),
        (["--variant", "x=1"], "start with a name for the row"),
        (["--variant", "more", "servers"], "expected PATH=VALUE (got 'servers')"),
        (
            ["--variant", "more", "clusters.0.servers=-1"],
            "clusters.0.servers: must be greater than 0 (got -1) [in --variant more]",
        ),
        (["--strategies", "random", "--variant", "random"], "row names must differ"),
        (["--variant", "other", "seed=4"], "every row runs the same seeds under one name"),
    ],
)
def test_compare_bad_input_exits_2(small: Path, tmp_path: Path, args: list[str], message: str) -> None:
    done = orchsim("compare", str(small), *args, "--out", str(tmp_path / "never"))
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "never").exists()


def test_variant_rows_keep_the_scenarios_routing_and_apply_their_overrides(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "v"
    args = ["--variant", "shipped", "--variant", "more", "clusters.0.servers=30", "--rank-by", "latency_s.mean"]
    args += ["--set", "router.strategy=least_connections"]  # the scenario's routing, which variants keep
    done = orchsim(
        "compare", str(small), "--strategies", "random", *args, "--seeds", "2", "--out", str(out), "--no-plots"
    )
    assert done.returncode == 0, done.stderr
    document = json.loads((out / "comparison.json").read_text())
    assert document["ranking"][0]["strategy"] == "more"  # 30 servers wait less than 20
    strategies = {r["strategy"]: r["summary"]["strategy"] for r in document["runs"]}
    assert strategies == {"random": "random", "shipped": "least_connections", "more": "least_connections"}
    means = {label: figures["utilization"]["mean"] for label, figures in document["strategies"].items()}
    assert means["more"] == pytest.approx(means["shipped"] * 20 / 30, rel=0.05)  # same work, 30 servers
    shipped = [r["summary"] for r in document["runs"] if r["strategy"] == "shipped"]
    offered = [r["summary"]["requests"]["offered"] for r in document["runs"] if r["strategy"] == "more"]
    assert [s["requests"]["offered"] for s in shipped] == offered  # common random numbers: the same traffic


def test_undefined_figures_neither_shift_pairs_nor_win_the_ranking() -> None:
    runs = fake_runs({"a": [1.0, 2.0, 3.0], "b": [1.1, None, 3.1]})  # b, seed 1: nothing succeeded
    comparison = Comparison(labels=["b", "a"], seeds=[0, 1, 2], runs=runs, rank_by="latency_s.p99")
    ranking = comparison.ranking()
    assert [row["strategy"] for row in ranking] == ["a", "b"]
    assert ranking[1]["undefined_seeds"] == 1
    assert ranking[1]["difference_to_best"]["mean"] == pytest.approx(0.1)


def _without_wall_clock(run: dict[str, Any]) -> dict[str, Any]:
    return {**run, "summary": {k: v for k, v in run["summary"].items() if k not in (*WALL_CLOCK, "events")}}


def test_rows_of_one_seed_share_one_trace_drawn_as_the_engine_would(small: Path) -> None:
    rows = variant_scenarios(
        small,
        [],
        [Variant("random", "random")],
        [Mitigation("more", ["clusters.0.servers=30"]), Mitigation("busier", ["workload.rate=20"])],
    )
    sim.experiments.compare._TRACES.clear()
    first = shared_trace(rows["random"], 11)
    assert shared_trace(rows["more"], 11) is first  # another cluster, the same workload: drawn once
    fresh = generate_trace(rows["more"], 11)
    assert first.arrival_s.tobytes() == fresh.arrival_s.tobytes() and first.klass.tobytes() == fresh.klass.tobytes()
    other = shared_trace(rows["busier"], 11)  # another workload: its own trace
    assert other is not first and other.arrival_s.size != first.arrival_s.size
    assert shared_trace(rows["random"], 12).arrival_s.tobytes() != first.arrival_s.tobytes()
    assert len(sim.experiments.compare._TRACES) == 1  # one kept at a time
    assert np.shares_memory(shared_trace(rows["random"], 12).arrival_s, shared_trace(rows["more"], 12).arrival_s)


def test_a_run_on_a_shared_trace_is_the_run_on_its_own(small: Path) -> None:
    rows = variant_scenarios(small, [], [], [Mitigation("a", []), Mitigation("b", ["clusters.0.servers=19"])])
    run_one("a", rows["a"], 11)  # leaves seed 11's trace in the cache
    shared = _without_wall_clock({"summary": run_one("b", rows["b"], 11).summary.to_dict()})["summary"]
    alone = _without_wall_clock({"summary": summarize(simulate(rows["b"], 11)).to_dict()})["summary"]
    assert json.dumps(shared, sort_keys=True) == json.dumps(alone, sort_keys=True)


def test_a_row_equal_to_another_is_simulated_once(small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []
    real = sim.experiments.compare.run_one

    def counted(label: str, scenario: Any, seed: int) -> RowRun:
        calls.append((label, seed))
        return real(label, scenario, seed)

    monkeypatch.setattr(sim.experiments.compare, "run_one", counted)
    rows = variant_scenarios(
        small,
        ["duration=5m"],
        [],
        [Mitigation("shipped", []), Mitigation("again", []), Mitigation("x", ["clusters.0.servers=25"])],
    )
    steps: list[tuple[int, int]] = []
    comparison = run_comparison(rows, [1, 2], 1, "availability", lambda n, total: steps.append((n, total)))
    assert calls == [("shipped", 1), ("x", 1), ("shipped", 2), ("x", 2)]  # seed by seed, "again" not run
    assert steps == [(2, 6), (3, 6), (5, 6), (6, 6)]
    runs = {(r.strategy, r.seed): r for r in comparison.runs}
    assert [(r.strategy, r.seed) for r in comparison.runs] == [(row, s) for row in rows for s in (1, 2)]
    assert runs["again", 2].summary == runs["shipped", 2].summary
    assert runs["x", 2].summary != runs["shipped", 2].summary
    assert comparison.aggregate()["again"] == comparison.aggregate()["shipped"]
