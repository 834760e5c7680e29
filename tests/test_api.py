"""sim.api: the documented names, typed results equal to the CLI's files, and the README example run as written."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

from sim import api
from sim.experiments.compare import CRN_NOTE

README = Path(__file__).resolve().parents[1] / "README.md"
FAST = {"duration": "10m", "warmup": "1m"}


def test_all_is_the_documented_surface() -> None:
    assert api.__all__ == [
        "ComparisonResult",
        "Overrides",
        "RunResult",
        "Scenario",
        "ScenarioError",
        "SweepResult",
        "compare",
        "load_scenario",
        "run",
        "shipped_scenarios",
        "sweep",
    ]
    for name in api.__all__:
        assert getattr(api, name).__doc__, name
    text = README.read_text(encoding="utf-8")
    for name in ("load_scenario", "run", "compare", "sweep", "RunResult", "ComparisonResult", "SweepResult"):
        assert re.search(rf"`{name}\(|-> {name}|->\s+{name}", text), name


def test_run_returns_the_summary_and_timeseries_the_cli_writes() -> None:
    scenario = api.load_scenario("mmc-textbook", overrides={**FAST, "start": "2026-02-03T18:00:00Z"})
    result = api.run(scenario, seed=4)
    again = api.run("mmc-textbook", seed=4, overrides=[f"{k}={v}" for k, v in FAST.items()])
    assert result.summary["seed"] == 4 and result.summary["start"] == "2026-02-03T18:00:00+00:00"
    assert result.summary["requests"] == again.summary["requests"]  # same seed, same traffic
    typed = result.typed_summary  # the same figures, typed
    assert typed.to_dict() == result.summary and typed.requests.offered == result.summary["requests"]["offered"]
    assert typed.figure("latency_s.p99") == result.summary["latency_s"]["p99"]
    series = result.timeseries
    assert len(series["time"]) == len(series["start_s"]) == 10
    assert series["time"][1] == "2026-02-03T18:01:00+00:00"
    assert result.times[1].isoformat() == "2026-02-03T18:01:00+00:00"
    assert int(series["offered"][1:].sum()) >= result.summary["requests"]["offered"] > 0
    assert isinstance(series["queue_depth"], np.ndarray)


def test_bad_input_raises_with_the_field_named() -> None:
    with pytest.raises(api.ScenarioError) as caught:
        api.load_scenario("mmc-textbook", overrides={"clusters.0.servers": 0})
    assert caught.value.lines == ["mmc-textbook.yaml: clusters.0.servers: must be greater than 0 (got 0)"]
    with pytest.raises(api.ScenarioError, match="no shipped scenario of that name"):
        api.load_scenario("no-such-thing")
    with pytest.raises(ValueError, match="--rank-by: unknown metric"):
        api.compare("mmc-textbook", ["random"], rank_by="speed")
    with pytest.raises(ValueError, match="overrides: give them to load_scenario"):
        api.run(api.load_scenario("mmc-textbook"), overrides={"duration": "1m"})


def test_compare_and_sweep_give_the_documents_of_their_verbs() -> None:
    ranked = api.compare(
        "power-of-two-choices",
        ["random", "round_robin"],
        variants={"fewer": ["clusters.0.servers=95"]},
        seeds=2,
        overrides=FAST,
        rank_by="latency_s.p99",
    )
    assert ranked.document["common_random_numbers"] == CRN_NOTE
    assert {r["strategy"] for r in ranked.ranking} == {"random", "round_robin", "fewer"}
    assert ranked.best == [ranked.ranking[0]["strategy"]]
    interval = ranked.interval("random", "latency_s.p99")
    assert interval["ci_low"] is not None and interval["ci_low"] <= interval["mean"] <= interval["ci_high"]  # type: ignore[operator]
    grid = api.sweep("mmc-textbook", {"clusters.0.servers": [10, 12]}, seeds=[5, 6], overrides=FAST)
    assert [r["seed"] for r in grid.records] == [5, 6, 5, 6]
    waits = [p["figures"]["wait_s.mean"]["mean"] for p in grid.points]
    assert waits[0] > waits[1]  # more servers, shorter waits (same arrivals)


def test_readme_example_runs_as_written() -> None:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- api-example -->\n```python\n(.*?)```", text, re.DOTALL)
    assert match, "README has no api-example block"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(match.group(1), "README.md", "exec"), {})
    lines = printed.getvalue().splitlines()
    assert re.match(r"availability 1\.000, p99 \d+\.\d\d s", lines[0]), lines
    assert re.match(r"deepest queue at \d\d:\d\d UTC", lines[1]), lines
    assert lines[2].startswith("best: ['power_of_two']"), lines
    assert lines[3].startswith("{'clusters.0.servers': 10} ") and lines[4].startswith("{'clusters.0.servers': 12} ")
