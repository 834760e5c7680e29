"""The metric registry (sim/analysis/metric_registry.py) names every numeric figure summary.json holds, and
the comparison, the capacity targets and the tables take their vocabulary (units, absences) from it."""

from __future__ import annotations

from typing import Any

import pytest

from sim.analysis.metric_registry import METRICS, UNIT_NAMES, check_metric, higher_is_better, lookup, settings, unit_of
from sim.analysis.summary import flatten
from sim.experiments.capacity import parse_target
from sim.output.compare_output import TABLE_METRICS, _kind
from sim.output.report import _COMPARE_METRICS
from sim.output.sweep_output import SHOWN
from sim.scenario.loading import load_scenario
from sim.scenario.paths import scenarios_dir
from tests.conftest import base_summary, make_scenario, run_summary

SHORT = {  # shipped scenarios cut short, between them every section of a summary
    "chatgpt-2026-02-04": ["duration=7h", "warmup=10m", "workload.rate=2"],  # classes, llm, incident, monitoring
}
CRASH = [{"kind": "crash", "target": "c", "at": 100, "duration": 100}]  # errors by code, a trigger


@pytest.fixture(scope="module")
def summaries() -> list[dict[str, Any]]:
    shipped = [run_summary(load_scenario(scenarios_dir() / f"{name}.yaml", sets))[1] for name, sets in SHORT.items()]
    return [*shipped, run_summary(make_scenario(faults=CRASH))[1]]


def test_every_figure_of_a_real_summary_is_registered(summaries: list[dict[str, Any]]) -> None:
    names = {name for summary in summaries for name in flatten(summary)}
    assert {"status_page.official.episodes", "classes.chat.ttft_s.p99", "llm.preemptions"} <= names
    assert any(name.startswith("errors_by_code.") for name in names)
    assert sorted(name for name in names if lookup(name) is None) == []


def test_names_are_unique_and_directions_known() -> None:
    assert len({m.name for m in METRICS}) == len(METRICS)
    assert all(m.better in ("higher", "lower", "none") and m.unit for m in METRICS)
    assert settings() == {"seed", "duration_s", "warmup_s"}
    assert higher_is_better("availability") and higher_is_better("goodput_rps")
    assert not higher_is_better("latency_s.p99") and not higher_is_better("no.such")
    assert higher_is_better("classes.chat.availability")  # placeholders match


def test_rank_by_and_targets_take_only_rankable_figures() -> None:
    for good in ("requests.succeeded", "errors_by_code.504", "cost.total_usd", "incident.down_windows", "tpot_s.p99"):
        check_metric(good)
    for bad in ("itl_s.p99", "classes.chat.availability", "incident.onset_s", "errors_by_code.50x", "wall_s"):
        with pytest.raises(ValueError, match="unknown metric"):
            check_metric(bad)
    assert [c.metric for c in parse_target("uptime>=0.99 and wait_s.p90<=3")] == ["uptime", "wait_s.p90"]
    with pytest.raises(ValueError, match=r"--target: unknown metric 'itl_s\.p99'"):
        parse_target("itl_s.p99<=1")


def test_units_and_absences_come_from_the_registry() -> None:
    assert [m.name for m in METRICS if m.absent_is_zero] == ["errors_by_code.{code}"]
    summary = base_summary()
    assert "errors_by_code.599" not in summary.figures and summary.figure("errors_by_code.599") == 0.0
    assert summary.figure("classes.chat.availability") is None  # absent here: undefined, not zero
    assert unit_of("latency_s.p99") == "s" and unit_of("availability") == "share" and unit_of("no.such") is None
    assert {unit_of(name) for name, _ in TABLE_METRICS} <= {"share", "s", "rps", "count"}
    assert [_kind(name) for name, _ in TABLE_METRICS][:5] == ["pct", "s", "s", "s", "s"]
    assert set(UNIT_NAMES) <= {m.unit for m in METRICS}


def test_every_figure_a_table_shows_is_a_registered_one() -> None:
    shown = [*(n for n, _ in TABLE_METRICS), *(n for n, _ in _COMPARE_METRICS), *SHOWN]
    assert sorted(n for n in shown if lookup(n) is None) == []
