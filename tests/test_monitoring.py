"""Status-page rules, outage reports and cost on tiny synthetic time series with exact expectations."""

from __future__ import annotations

import numpy as np
import pytest

from sim.analysis.incident import assess
from sim.analysis.metric_registry import check_metric
from sim.analysis.monitoring import (
    at_least,
    confirmed_levels,
    cost_usd,
    incident_windows,
    monitoring_columns,
    observe,
    outage_reports,
    window_levels,
)
from sim.scenario.loading import ScenarioError
from sim.scenario.monitoring import Observer, OutageReports
from tests.conftest import make_scenario


def synthetic(error_rates: list[float], answered: int = 1000, window_s: float = 60.0) -> dict[str, np.ndarray]:
    """Windows of ``window_s`` with ``answered`` answers each, failing at the given rates."""
    n = len(error_rates)
    start = np.arange(n) * window_s
    failed = np.rint(np.array(error_rates) * answered).astype(np.int64)
    succeeded = answered - failed
    return {
        "start_s": start,
        "end_s": start + window_s,
        "offered": np.full(n, answered),
        "succeeded": succeeded,
        "failed": failed,
        "availability": succeeded / answered,
        "latency_p95_s": np.full(n, 1.0),
    }


def test_window_levels_follow_thresholds_and_latency() -> None:
    series = synthetic([0.0, 0.03, 0.12, 0.5, 0.0])
    series["latency_p95_s"][4] = 30.0
    assert window_levels(Observer(), series).tolist() == [0, 1, 2, 3, 0]
    assert window_levels(Observer(latency_p95=10.0), series).tolist() == [0, 1, 2, 3, 1]


def test_window_with_requests_but_no_answer_is_a_major_outage() -> None:
    series = synthetic([0.0, 0.0])
    series["succeeded"][1] = series["failed"][1] = 0
    assert window_levels(Observer(), series).tolist() == [0, 3]


def test_confirmation_and_clear_periods() -> None:
    assert confirmed_levels(np.array([0, 1, 1, 0, 0, 0]), confirm=1, clear=2).tolist() == [0, 1, 1, 1, 0, 0]
    levels = np.array([0, 2, 2, 2, 1, 1, 0, 0, 0])
    assert confirmed_levels(levels, confirm=3, clear=2).tolist() == [0, 0, 0, 2, 2, 1, 1, 0, 0]
    # a single bad window is not confirmed by a slow observer
    assert confirmed_levels(np.array([0, 3, 0, 0]), confirm=2, clear=1).tolist() == [0, 0, 0, 0]


def test_observer_posts_after_acknowledgement_delay() -> None:
    series = synthetic([0, 0, 0.5, 0.5, 0.5, 0.5, 0, 0, 0, 0])
    official = Observer(confirm=2, clear=2, acknowledge=150.0)
    view = observe(official, series, horizon_s=600.0)
    assert view.events == [(390.0, "major_outage", "investigating"), (480.0, "resolved", "")]
    assert [(e.detected_s, e.acknowledged_s, e.cleared_s, e.resolved_s) for e in view.episodes] == [
        (240.0, 390.0, 480.0, 480.0)
    ]
    assert view.shown == ["operational"] * 6 + ["major_outage", "resolved", "operational", "operational"]


def test_acknowledgement_after_recovery_posts_resolved_once() -> None:
    series = synthetic([0, 0.5, 0, 0, 0, 0, 0, 0, 0, 0])
    view = observe(Observer(clear=1, acknowledge=300.0), series, horizon_s=600.0)
    assert view.events == [(420.0, "resolved", "investigating, posted after it had cleared")]
    late = observe(Observer(clear=1, acknowledge=3600.0), series, horizon_s=600.0)
    assert late.events == []
    assert late.episodes[0].acknowledged_s is None


def test_assess_times_detection_and_acknowledgement_from_onset() -> None:
    sc = make_scenario(
        duration=600,
        window=60,
        overrides=[
            "monitoring.status_page.confirm=2",
            "monitoring.status_page.clear=2",
            "monitoring.status_page.acknowledge=150",
        ],
    )
    figures = assess(sc, 1, synthetic([0, 0, 0.5, 0.5, 0.5, 0.5, 0, 0, 0, 0]), failed=10, late=0)
    incident = figures.incident
    assert (incident.onset_s, incident.end_s, incident.time_to_recover_s) == (120.0, 360.0, 240.0)
    assert incident.peak_error_rate == 0.5
    monitor, official = figures.status_page["monitor"], figures.status_page["official"]
    assert (monitor.time_to_detect_s, monitor.time_to_acknowledge_s) == (60.0, 60.0)
    assert (official.time_to_detect_s, official.time_to_acknowledge_s) == (120.0, 270.0)
    assert official.time_to_resolve_s == 360.0
    assert official.worst_state == "major_outage"
    labels = [e.label for e in incident.timeline]
    assert labels.index("availability falls below the SLO") < labels.index("status page: major_outage (investigating)")
    assert [p.state for p in official.timeline] == ["major_outage", "resolved"]


def test_incident_groups_merge_short_gaps() -> None:
    down = np.array([False, True, True, False, False, False, True, False])
    assert incident_windows(down, gap=2) == [(1, 2), (6, 6)]
    assert incident_windows(down, gap=4) == [(1, 6)]
    assert incident_windows(np.zeros(3, dtype=bool), gap=1) == []


def test_outage_reports_are_deterministic_per_seed() -> None:
    cfg = OutageReports(requests_per_user=4, failures=2, probability=0.1, background_per_day=100)
    series = synthetic([0.0, 0.2, 0.6, 0.3, 0.0] * 20, answered=4000)
    first, again = outage_reports(cfg, series, 7), outage_reports(cfg, series, 7)
    assert first.tolist() == again.tolist()
    assert first.tolist() != outage_reports(cfg, series, 8).tolist()


def test_outage_reports_follow_the_binomial_model() -> None:
    cfg = OutageReports(requests_per_user=4, failures=2, probability=0.1)
    assert outage_reports(cfg, synthetic([0.0] * 50), 1).sum() == 0
    series = synthetic([0.5] * 400, answered=4000)
    # 1000 users per window; P(>= 2 of 4 fail at 0.5) = 11/16; mean reports 1000 x 11/16 x 0.1 = 68.75
    mean = outage_reports(cfg, series, 1).mean()
    assert mean == pytest.approx(68.75, rel=0.02)


def test_at_least_is_scipys_binomial_survival_bit_for_bit() -> None:
    from scipy.stats import binom

    p = np.concatenate([np.random.default_rng(3).random(20_000), np.linspace(0.0, 1.0, 1001), [1e-300, 1 - 1e-16]])
    for n in range(1, 9):
        for k in range(1, n + 1):
            assert at_least(k, n, p).tobytes() == np.asarray(binom.sf(k - 1, n, p), dtype=np.float64).tobytes()
    assert at_least(2, 4, np.array([0.0, 1.0, 0.5])).tolist() == [0.0, 1.0, 11 / 16]
    assert at_least(1, 1, np.array([])).shape == (0,)


def test_cost_arithmetic() -> None:
    sc = make_scenario(
        overrides=[
            "monitoring.cost.failed_request_usd=0.5",
            "monitoring.cost.late_request_usd=0.1",
            "monitoring.cost.pipeline_minute_usd=20",
        ]
    )
    cost = cost_usd(sc, failed=100, late=30, down_min=4.5)
    assert (cost.failed_requests_usd, cost.late_requests_usd, cost.pipeline_usd) == (50.0, 3.0, 90.0)
    assert cost.total_usd == 143.0 and (cost.failed, cost.late, cost.down_min) == (100, 30, 4.5)


def test_monitoring_columns_have_one_value_per_window() -> None:
    sc = make_scenario(duration=600, window=60)
    columns = monitoring_columns(sc, 1, synthetic([0, 0.5, 0, 0, 0, 0, 0, 0, 0, 0]))
    assert {len(v) for v in columns.values()} == {10}
    assert columns["status_monitor"][1] == "major_outage"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("monitoring.outage_reports.failures=9", "failures: must be at most requests_per_user (4) (got 9)"),
        ("monitoring.monitor.partial_error_rate=0.01", "monitoring.monitor: error rates must rise"),
        ("monitoring.cost.pipeline_minute_usd=-1", "monitoring.cost.pipeline_minute_usd: must be greater than"),
    ],
)
def test_bad_monitoring_fields_name_the_field(override: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        make_scenario(overrides=[override])
    assert any(message in line for line in info.value.lines), info.value.lines


def test_overriding_one_status_page_field_keeps_its_other_defaults() -> None:
    page = make_scenario(overrides=["monitoring.status_page.acknowledge=5m"]).monitoring.status_page
    assert (page.acknowledge, page.confirm, page.clear, page.degraded_error_rate) == (300.0, 3, 5, 0.05)
    monitor = make_scenario().monitoring.monitor
    assert (monitor.acknowledge, monitor.confirm) == (0.0, 1)


def test_incident_figures_are_metrics_for_rank_by_and_targets() -> None:
    for metric in ("cost.total_usd", "outage_reports.total", "incident.peak_error_rate"):
        check_metric(metric)
    with pytest.raises(ValueError, match=r"unknown metric 'cost\.dollars'"):
        check_metric("cost.dollars")
