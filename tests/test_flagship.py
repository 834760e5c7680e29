"""The flagship: the 2026-02-04 outage reconstruction against what was reported, over three seeds.

Reported for the day: API uptime 99.1% against a 30-day average of 99.8%; 503 and 500 the primary
error codes; the status page said "investigating" only after independent monitors saw it; resolved
within about 90 minutes. Tolerances (stated here, measured over seeds 1-3): mean incident-day
uptime within 0.5 points of 99.1%, every seed below its own baseline, mean baseline uptime at
least 99.6%.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pytest

from sim.engine import simulate
from sim.loading import load_baseline, load_scenario
from sim.metrics import summarize
from sim.paths import flagship_scenario

SEEDS = (1, 2, 3)


def _summary(args: tuple[bool, int]) -> dict[str, Any]:
    baseline, seed = args
    path = flagship_scenario()
    scenario = load_scenario(path)
    if baseline:
        base = load_baseline(path, [], scenario)
        assert base is not None
        scenario = base
    return summarize(simulate(scenario, seed))


@pytest.fixture(scope="module")
def runs() -> dict[str, list[dict[str, Any]]]:
    jobs = [(baseline, seed) for baseline in (False, True) for seed in SEEDS]
    with ProcessPoolExecutor(max_workers=2) as pool:
        summaries = list(pool.map(_summary, jobs))
    return {"incident": summaries[: len(SEEDS)], "baseline": summaries[len(SEEDS) :]}


def test_uptime_is_near_the_reported_day_and_its_baseline(runs: dict[str, list[dict[str, Any]]]) -> None:
    incident = [s["uptime"] for s in runs["incident"]]
    baseline = [s["uptime"] for s in runs["baseline"]]
    assert abs(float(np.mean(incident)) - 0.991) <= 0.005, incident
    assert float(np.mean(baseline)) >= 0.996, baseline
    assert all(i < b for i, b in zip(incident, baseline, strict=True)), (incident, baseline)


def test_503_and_500_are_the_two_most_frequent_errors(runs: dict[str, list[dict[str, Any]]]) -> None:
    for summary in runs["incident"]:
        codes = sorted(summary["errors_by_code"].items(), key=lambda item: -item[1])
        assert [code for code, _ in codes[:2]] == ["503", "500"], codes


def test_the_status_page_acknowledges_after_the_independent_monitor(runs: dict[str, list[dict[str, Any]]]) -> None:
    for summary in runs["incident"]:
        pages = summary["status_page"]
        monitor, official = pages["monitor"], pages["official"]
        assert monitor["acknowledged_s"] is not None and official["acknowledged_s"] is not None
        assert official["acknowledged_s"] > monitor["acknowledged_s"]


def test_it_recovers_within_90_minutes_and_is_not_metastable(runs: dict[str, list[dict[str, Any]]]) -> None:
    for summary in runs["incident"]:
        incident = summary["incident"]
        assert incident["onset_s"] is not None
        assert incident["time_to_recover_s"] <= 90 * 60
        assert summary["metastable"] is False
