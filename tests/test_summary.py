"""The typed summary (sim/analysis/summary.py): what summarize() builds, summary.json read into types and
written back to the same bytes, its figures by dotted name, and the one simulate-and-summarise entry point."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sim.analysis.metric_registry import METRICS, lookup
from sim.analysis.metrics import summarize
from sim.analysis.summary import ReferenceComparison, SeedCodes, StatusPost, Summary, SummaryError, TimelineEntry
from sim.engine import simulate
from sim.experiments.reference import compare_to_reference
from sim.experiments.simulate import simulate_and_summarise
from sim.output.outputs import json_text, write_json
from sim.scenario import Scenario
from sim.scenario.loading import load_scenario
from sim.scenario.paths import flagship_scenario, scenarios_dir
from tests.conftest import base_summary, make_scenario

SHIPPED = {  # shipped scenarios cut short: between them every optional section of a summary
    "chatgpt-2026-02-04": ["duration=7h", "warmup=10m", "workload.rate=2"],  # classes, llm, incident, monitoring
    "reasoning-pools": ["duration=20m"],  # llm with two pools
    "crash-retry-storm": ["duration=15m"],  # a crash: errors by code, a trigger
    "peak-hour-surge": ["duration=20m"],  # a surge
}


def _scenario(name: str) -> Scenario:
    return load_scenario(scenarios_dir() / f"{name}.yaml", SHIPPED[name])


@pytest.fixture(scope="module")
def summaries() -> dict[str, Summary]:
    """summarize()'s typed summary of each shipped scenario."""
    crash = make_scenario(faults=[{"kind": "crash", "target": "c", "at": 100, "duration": 100}])  # 503s
    return {**{name: summarize(simulate(_scenario(name))) for name in SHIPPED}, "crash": summarize(simulate(crash))}


@pytest.fixture(scope="module")
def documents(summaries: dict[str, Summary]) -> dict[str, dict[str, Any]]:
    """Their summary.json documents."""
    return {name: summary.to_dict() for name, summary in summaries.items()}


def _leaves(document: dict[str, Any], prefix: str = "") -> set[str]:
    """Dotted names of every number, flag or null of a document (lists and text left out)."""
    out: set[str] = set()
    for key, value in document.items():
        if isinstance(value, dict):
            out |= _leaves(value, f"{prefix}{key}.")
        elif value is None or isinstance(value, (bool, int, float)):
            out.add(f"{prefix}{key}")
    return out


@pytest.mark.parametrize("name", [*SHIPPED, "crash"])
def test_a_real_summary_reads_and_writes_back_to_the_same_bytes(
    documents: dict[str, dict[str, Any]], name: str, tmp_path: Path
) -> None:
    document = documents[name]
    path = tmp_path / "summary.json"
    write_json(path, document)
    summary = Summary.from_json(path)
    assert json_text(summary.to_dict()) == path.read_text()
    assert summary.scenario == document["scenario"] and summary.requests.offered == document["requests"]["offered"]
    assert summary.latency_s.p99 == document["latency_s"]["p99"]
    assert [t.kind for t in summary.triggers] == [t["kind"] for t in document["triggers"]]


@pytest.mark.parametrize("name", [*SHIPPED, "crash"])
def test_what_summarize_builds_is_what_its_document_reads_back_as(
    summaries: dict[str, Summary], documents: dict[str, dict[str, Any]], name: str
) -> None:
    summary = summaries[name]
    assert Summary.from_dict(json.loads(json_text(documents[name]))) == summary
    assert Summary.from_dict(documents[name]).absent == summary.absent  # the same optional keys left out


def test_the_shipped_summaries_exercise_every_optional_section(documents: dict[str, dict[str, Any]]) -> None:
    summaries = [Summary.from_dict(d) for d in documents.values()]
    assert any(s.llm is not None for s in summaries) and any(s.llm is None for s in summaries)
    assert any(s.classes for s in summaries) and any(s.triggers for s in summaries)
    assert any(s.tpot_s is not None for s in summaries) and any(s.tpot_s is None for s in summaries)
    chat = Summary.from_dict(documents["chatgpt-2026-02-04"])
    assert chat.incident is not None and chat.status_page is not None and chat.cost is not None
    assert chat.status_page["official"].worst_state
    assert all(isinstance(e, TimelineEntry) for e in chat.incident.timeline) and chat.incident.timeline[0].source
    posted = [
        (s, name, page) for s in summaries if s.status_page for name, page in s.status_page.items() if page.timeline
    ]
    assert posted  # a status page posted in some run: its posts are the timeline's lines of that page
    for summary, name, page in posted:
        who = "independent monitor" if name == "monitor" else "status page"
        assert summary.incident is not None and all(isinstance(p, StatusPost) for p in page.timeline)
        assert [e.label for e in summary.incident.timeline if e.source == name] == [
            f"{who}: {p.state}" + (f" ({p.note})" if p.note else "") for p in page.timeline
        ]


def test_every_registered_metric_is_a_figure_of_some_real_summary(documents: dict[str, dict[str, Any]]) -> None:
    not_figures = {"timezone", "tpot_s"}  # null text (no zone given) and a null section (no tokens streamed)
    names = {name for d in documents.values() for name in _leaves(Summary.from_dict(d).to_dict())} - not_figures
    assert sorted(n for n in names if lookup(n) is None) == []  # every figure is registered
    seen = {lookup(n) for n in names}
    assert sorted(m.name for m in METRICS if m not in seen) == []  # and no registry entry is stale


def test_figures_by_name_count_an_absent_error_code_as_zero() -> None:
    summary = replace(base_summary(), errors_by_code={"503": 4}, latency_s=replace(base_summary().latency_s, p99=None))
    assert summary.figure("errors_by_code.503") == 4.0
    assert summary.figure("errors_by_code.504") == 0.0
    assert summary.figure("latency_s.p99") is None  # undefined (nothing succeeded), not zero
    assert summary.figure("metastable") is None and summary.figure("seed") == float(summary.seed)


def test_a_reference_added_after_the_run_is_written_last() -> None:
    day = base_summary()
    reference = compare_to_reference(load_scenario(flagship_scenario()), [day, day], [day])
    assert isinstance(reference, ReferenceComparison) and reference.seeds == (day.seed, day.seed)
    assert isinstance(next(r for r in reference.rows if r.metric == "error_codes").simulated.incident, SeedCodes)
    summary = replace(day, reference=reference)
    document = summary.to_dict()
    assert list(document)[-1] == "reference" and "reference" not in day.to_dict()
    assert Summary.from_dict(json.loads(json_text(document))) == summary


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("availability"), r"summary\.json: missing availability"),
        (lambda d: d.update(extra=1), r"summary\.json: unexpected extra"),
        (lambda d: d["latency_s"].pop("p99"), r"summary\.json\.latency_s: missing p99"),
        (lambda d: d["requests"].update(offered_x=1), r"summary\.json\.requests: unexpected offered_x"),
        (lambda d: d.update(requests=[1]), r"summary\.json\.requests: expected an object \(got list\)"),
        (lambda d: d.update(seed=d.pop("seed")), r"summary\.json: keys out of summary\.json's order"),
    ],
)
def test_a_document_of_another_shape_is_refused_naming_the_key(change: Any, message: str) -> None:
    document = base_summary().to_dict()
    document = json.loads(json.dumps(document))
    change(document)
    with pytest.raises(SummaryError, match=message):
        Summary.from_dict(document)


def test_from_json_names_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    path.write_text("{not json")
    with pytest.raises(SummaryError, match=r"summary\.json: cannot read it"):
        Summary.from_json(path)


def test_simulate_and_summarise_is_simulate_then_summarize() -> None:
    scenario = make_scenario(duration=300, faults=[{"kind": "crash", "target": "c", "at": 100, "duration": 50}])
    run = simulate_and_summarise(scenario, 3)
    again = summarize(simulate(scenario, 3))
    volatile = ("wall_s", "events", "requests_per_wall_s")
    assert {k: v for k, v in run.summary.to_dict().items() if k not in volatile} == {
        k: v for k, v in again.to_dict().items() if k not in volatile
    }
    assert run.result.seed == 3 and run.series["offered"].sum() >= run.summary.requests.offered > 0
    with_states = simulate_and_summarise(scenario, 3, monitoring=True).series
    assert set(with_states) > set(run.series)  # the status pages' columns, as timeseries.csv shows them
