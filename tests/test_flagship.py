"""The flagship: the 2026-02-04 outage reconstruction against what the news report says.

Targets (issue 22), each over the mean of seeds 1-5 of full days (the slow test): incident-day
uptime 99.1% +- 0.3 points; ordinary-day uptime 99.8% +- 0.15; at least 47 outage reports on the
incident day and 12 +- 4 on an ordinary day; 503 and 500 the two most frequent codes; the report
spike between 00:30 and 01:30 GMT; one contiguous incident whose user impact, from the monitor's
detection to the status page's "resolved", lasts 60-120 minutes; the page "Operational" for at
least 5 minutes after users fail, then "investigating".

The default run checks the same mechanisms on the incident window only (18:00-04:00 GMT, seeds 1
and 2), with tolerances for its two seeds, and two rows of the comparison the README shows.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim.analysis.metrics import summarize
from sim.analysis.summary import Summary
from sim.engine import simulate
from sim.experiments.compare import Comparison, RowRun
from sim.experiments.reference import impact_s
from sim.experiments.run_seeds import run_seeds
from sim.scenario.loading import load_baseline, load_scenario
from sim.scenario.paths import flagship_scenario

SEEDS = (1, 2)
WINDOW = ["duration=10h"]  # 18:00-04:00 GMT: the retirement, the peak, the incident and its resolution
CHANGES = {
    "least_outstanding_tokens": ["router.strategy=least_outstanding_tokens"],
    "recompute": ["clusters.0.service.preemption=recompute"],
}


def _summary(args: tuple[str, int]) -> dict[str, Any]:
    label, seed = args
    path = flagship_scenario()
    scenario = load_scenario(path, [*WINDOW, *CHANGES.get(label, [])])
    if label == "baseline":
        base = load_baseline(path, WINDOW, scenario)
        assert base is not None
        scenario = base
    return summarize(simulate(scenario, seed)).to_dict()


@pytest.fixture(scope="module")
def runs() -> dict[str, list[dict[str, Any]]]:
    jobs = [(label, seed) for label in ("incident", "baseline") for seed in SEEDS]
    jobs += [(label, SEEDS[0]) for label in CHANGES]
    with ProcessPoolExecutor(max_workers=2) as pool:
        summaries = dict(zip(jobs, pool.map(_summary, jobs), strict=True))
    out: dict[str, list[dict[str, Any]]] = {}
    for (label, _), summary in summaries.items():
        out.setdefault(label, []).append(summary)
    return out


def _gmt(summary: dict[str, Any], at_s: float) -> dt.time:
    start = dt.datetime(2026, 2, 3, 18, tzinfo=dt.UTC)
    return (start + dt.timedelta(seconds=at_s)).time()


def test_one_incident_begins_and_peaks_around_01_00_gmt(runs: dict[str, list[dict[str, Any]]]) -> None:
    for summary in runs["incident"]:
        incident, reports = summary["incident"], summary["outage_reports"]
        assert incident["incidents"] == 1, incident
        assert dt.time(0, 30) <= _gmt(summary, incident["onset_s"]) <= dt.time(1, 30), incident["onset_s"]
        assert dt.time(0, 30) <= _gmt(summary, reports["peak_at_s"]) <= dt.time(1, 30), reports
        # full days of seeds 1-5 have 11-18 bad minutes; the window's own draws gave 25 for one seed
        assert 6 <= incident["down_windows"] <= 30, incident


def test_503_and_500_are_the_two_most_frequent_errors(runs: dict[str, list[dict[str, Any]]]) -> None:
    for summary in runs["incident"]:
        codes = sorted(summary["errors_by_code"].items(), key=lambda item: -item[1])
        assert [code for code, _ in codes[:2]] == ["503", "500"], codes


def test_the_page_says_operational_then_investigating_and_resolves_60_to_120_min_after_detection(
    runs: dict[str, list[dict[str, Any]]],
) -> None:
    impacts = []
    for summary in runs["incident"]:
        official = summary["status_page"]["official"]
        assert official["time_to_acknowledge_s"] >= 5 * 60, official
        assert official["worst_state"] != "operational"
        assert official["episodes"] == 1, official
        impact = impact_s(Summary.from_dict(summary))
        assert impact is not None, summary["status_page"]
        impacts.append(impact)
    assert 60 * 60 <= float(np.mean(impacts)) <= 120 * 60, impacts


def test_outage_reports_spike_on_the_incident_day_only(runs: dict[str, list[dict[str, Any]]]) -> None:
    """Ten hours of the day: the incident's reports against the baseline's (background: 6 a day)."""
    incident = [s["outage_reports"]["total"] for s in runs["incident"]]
    baseline = [s["outage_reports"]["total"] for s in runs["baseline"]]
    assert float(np.mean(incident)) >= 35, incident
    assert float(np.mean(baseline)) <= 10, baseline
    assert all(s["incident"]["down_windows"] <= 3 for s in runs["baseline"]), runs["baseline"]


def test_load_blind_routing_is_not_the_fault_and_recompute_ends_the_500s(
    runs: dict[str, list[dict[str, Any]]],
) -> None:
    """Two rows of the comparison the README shows, on seed 1: least_outstanding_tokens is worse
    than round robin by a wide margin (it sends short chats to full waiting rooms), and
    preempting by recomputation instead of failing leaves no 500 at all."""
    rows = {"round_robin": runs["incident"][:1], **{label: runs[label] for label in CHANGES}}
    records = [RowRun(label, SEEDS[0], Summary.from_dict(s[0])) for label, s in rows.items()]
    ranking = Comparison(list(rows), [SEEDS[0]], records, "uptime").ranking()
    assert ranking[-1]["strategy"] == "least_outstanding_tokens", ranking
    assert rows["least_outstanding_tokens"][0]["uptime"] < rows["round_robin"][0]["uptime"] - 0.02
    assert runs["recompute"][0]["errors_by_code"].get("500", 0) == 0
    assert runs["incident"][0]["errors_by_code"].get("500", 0) > 0


@pytest.mark.slow
def test_the_targets_hold_over_seeds_1_to_5_of_full_days(tmp_path: Path) -> None:
    """The README's table: ``orchsim run --seeds 5`` (2 processes), every target on the mean."""
    path = flagship_scenario()
    scenario = load_scenario(path)
    base = load_baseline(path, [], scenario)
    runs = run_seeds(tmp_path, scenario, base, [1, 2, 3, 4, 5], plots=False)
    incident, baseline = [s.to_dict() for s in runs.incident], [s.to_dict() for s in runs.baseline]
    assert abs(np.mean([s["uptime"] for s in incident]) - 0.991) <= 0.003
    assert abs(np.mean([s["uptime"] for s in baseline]) - 0.998) <= 0.0015
    assert np.mean([s["outage_reports"]["total"] for s in incident]) >= 47
    assert abs(np.mean([s["outage_reports"]["total"] for s in baseline]) - 12) <= 4
    for summary in incident:
        codes = sorted(summary["errors_by_code"].items(), key=lambda item: -item[1])
        assert [code for code, _ in codes[:2]] == ["503", "500"], codes
        assert summary["incident"]["incidents"] == 1
        assert summary["status_page"]["official"]["time_to_acknowledge_s"] >= 5 * 60
    spike_h = np.mean([s["outage_reports"]["peak_at_s"] for s in incident]) / 3600
    assert 6.5 <= spike_h <= 7.5  # 00:30-01:30 GMT
    impacts = [i for i in (impact_s(s) for s in runs.incident) if i is not None]
    assert len(impacts) == len(incident) and 60 * 60 <= np.mean(impacts) <= 120 * 60, impacts
    assert runs.reference is not None and (tmp_path / "seed-5" / "summary.json").exists()
