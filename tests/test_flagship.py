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

from sim.compare import Comparison
from sim.engine import simulate
from sim.loading import load_baseline, load_scenario
from sim.metrics import summarize
from sim.paths import flagship_scenario

SEEDS = (1, 2, 3)


# rows of the comparison checked below: a routing strategy and a mitigation, each as a --set list
CHANGES = {
    "least_outstanding_tokens": ["router.strategy=least_outstanding_tokens"],
    "recompute": ["clusters.0.service.preemption=recompute"],
}


def _summary(args: tuple[str, int]) -> dict[str, Any]:
    label, seed = args
    path = flagship_scenario()
    scenario = load_scenario(path, CHANGES.get(label, []))
    if label == "baseline":
        base = load_baseline(path, [], scenario)
        assert base is not None
        scenario = base
    return summarize(simulate(scenario, seed))


@pytest.fixture(scope="module")
def runs() -> dict[str, list[dict[str, Any]]]:
    labels = ("incident", "baseline", *CHANGES)
    jobs = [(label, seed) for label in labels for seed in SEEDS]
    with ProcessPoolExecutor(max_workers=2) as pool:
        summaries = list(pool.map(_summary, jobs))
    return {label: summaries[i * len(SEEDS) : (i + 1) * len(SEEDS)] for i, label in enumerate(labels)}


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


def test_compare_ranks_load_blind_routing_first_and_recompute_ends_the_500s(
    runs: dict[str, list[dict[str, Any]]],
) -> None:
    """The comparison the README shows (10 seeds there), on seeds 1-3: least_outstanding_tokens
    is worse than round robin by a paired interval that excludes zero (it was 13 points worse over
    10 seeds), and preempting by recomputation instead of failing leaves no 500 at all."""
    rows = {"round_robin": runs["incident"], **{label: runs[label] for label in CHANGES}}
    records = [
        {"strategy": label, "seed": seed, "summary": summary}
        for label, summaries in rows.items()
        for seed, summary in zip(SEEDS, summaries, strict=True)
    ]
    ranking = Comparison(list(rows), list(SEEDS), records, "uptime").ranking()
    last = ranking[-1]
    assert last["strategy"] == "least_outstanding_tokens" and last["distinguishable"], ranking
    assert last["difference_to_best"]["ci_high"] < -0.05
    assert all(s["errors_by_code"].get("500", 0) == 0 for s in runs["recompute"])
    assert all(s["errors_by_code"].get("500", 0) > 0 for s in runs["incident"])
