"""The reference comparison: reported figures beside simulated ones, mean and range over seeds (exact)."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import pytest
from rich.console import Console

from sim.analysis.summary import ReportedDays, Summary, TimelineEntry
from sim.experiments.reference import compare_to_reference, impact_s
from sim.output.reference_output import narrative_html, narrative_table, reference_html, reference_table
from sim.scenario.loading import ScenarioError, load_scenario
from sim.scenario.paths import flagship_scenario
from tests.conftest import base_summary

TRIGGER = TimelineEntry(6 * 3600.0, "2026-02-04T06:00:00+00:00", "trigger", "drain on legacy begins")


def _day(
    seed: int,
    uptime: float = 0.99,
    reports: int = 50,
    peak_at_s: float = 7 * 3600 + 240,
    errors_by_code: dict[str, int] | None = None,
    quiet: bool = False,
) -> Summary:
    """A real run's summary with the figures of an incident day (or, ``quiet``, of a day without one)."""
    base = base_summary()
    assert base.incident is not None and base.status_page is not None and base.outage_reports is not None
    monitor = replace(base.status_page["monitor"], detected_s=None if quiet else 7 * 3600.0 + 60)
    official = replace(
        base.status_page["official"],
        acknowledged_s=None if quiet else 7 * 3600.0 + 1020,
        resolved_s=None if quiet else 8 * 3600.0 + 1860,
        time_to_acknowledge_s=None if quiet else 1020.0,
        worst_state="degraded",
    )
    return replace(
        base,
        seed=seed,
        uptime=uptime,
        errors_by_code=errors_by_code or {"500": 40, "503": 900, "504": 3},
        outage_reports=replace(base.outage_reports, total=reports, peak_at_s=peak_at_s, peak_per_window=6),
        incident=replace(base.incident, onset_s=None if quiet else 7 * 3600.0, timeline=(TRIGGER,)),
        status_page={"monitor": monitor, "official": official},
    )


DAY = _day(1)


def _quiet_day(seed: int) -> Summary:
    return _day(seed, uptime=0.998, errors_by_code={"503": 30, "500": 10}, reports=12, quiet=True)


def _text(table: Any) -> str:
    console = Console(file=io.StringIO(), width=250)
    console.print(table)
    return str(console.file.getvalue())  # type: ignore[attr-defined]


def test_impact_runs_from_the_monitors_detection_to_the_pages_resolved() -> None:
    assert impact_s(DAY) == (8 * 3600 + 1860) - (7 * 3600 + 60)
    assert impact_s(_quiet_day(1)) is None


def test_each_row_has_the_mean_and_range_over_seeds_in_clock_time() -> None:
    scenario = load_scenario(flagship_scenario())
    incident = [_day(1), _day(2, uptime=0.994, reports=40, peak_at_s=7 * 3600 + 1800)]
    document = compare_to_reference(scenario, incident, [_quiet_day(1), _quiet_day(2)])
    rows = {row.metric: row for row in document.rows}
    assert rows["uptime"].simulated.incident.shown == "99.20% (99.00% - 99.40%)"
    assert rows["uptime"].simulated.baseline.shown == "99.80% (99.80% - 99.80%)"
    assert rows["uptime"].reported == ReportedDays(incident="99.1%", baseline="99.8%")
    assert rows["outage_reports"].simulated.incident.shown == "45 (40 - 50)"
    assert rows["error_codes"].simulated.incident.shown == "503, 500 (2 of 2 seeds)"
    assert rows["report_spike"].simulated.incident.shown == "01:17 GMT (01:04 GMT - 01:30 GMT)"
    assert rows["time_to_resolve"].simulated.incident.shown == "90 min (90 min - 90 min)"
    assert rows["time_to_resolve"].simulated.baseline.shown == "no incident"
    assert rows["status_page_lag"].simulated.incident.per_seed == (1020.0, 1020.0)
    assert document.seeds == (1, 2)


def test_the_table_puts_the_report_beside_each_simulated_day() -> None:
    scenario = load_scenario(flagship_scenario())
    text = _text(reference_table(compare_to_reference(scenario, [_day(1)], [_quiet_day(1)])))
    for heading in ("Feb 4 (report)", "simulated incident day", "30-day average (report)", "simulated ordinary day"):
        assert heading in text
    line = next(line for line in text.splitlines() if "uptime" in line)
    assert line.index("99.1%") < line.index("99.00%") < line.index("99.8%") < line.index("99.80%")


def test_the_accounts_timeline_is_told_in_clock_time() -> None:
    scenario = load_scenario(flagship_scenario())
    document = compare_to_reference(scenario, [_day(1)], [_quiet_day(1)])
    lines = {line.event: line for line in document.narrative}
    assert lines["trigger"].clock == "00:00 GMT (+6h00m)"
    assert lines["page_operational"].simulated == "status page still shows 'Operational' for 17 min"
    assert lines["page_investigating"].clock == "01:17 GMT (+7h17m)"
    assert lines["resolved"].clock == "02:31 GMT (+8h31m)"
    assert "90 min after the monitor detected it" in lines["resolved"].simulated
    assert "01:04 GMT (+7h04m)" in _text(narrative_table(document))


def test_a_reference_section_is_checked_at_load(tmp_path: Any) -> None:
    text = flagship_scenario().read_text(encoding="utf-8").replace("metric: report_spike", "metric: uptime")
    path = tmp_path / "twice.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert any("reference.figures: one figure per metric (repeated: uptime)" in line for line in caught.value.lines)


def test_the_report_shows_the_same_comparison_and_timeline() -> None:
    scenario = load_scenario(flagship_scenario())
    document = compare_to_reference(scenario, [_day(1)], [_quiet_day(1)])
    html = reference_html(document)
    assert "<th>Feb 4 (report)</th>" in html and "<td class='num'>99.00%</td>" in html
    assert "user outage reports against a daily average of 12" in html  # each figure's source
    assert "<td class='num'>01:17 GMT (+7h17m)</td>" in narrative_html(document)
