"""Printed times are clock times with the offset beside them: tables, incident timeline, HTML report, --tz."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.analysis.metrics import summarize
from sim.analysis.summary import Summary
from sim.cli.main import main
from sim.output.report import REPORT_FILE
from sim.output.tables import summary_clock, summary_rows, timeline_rows
from tests.conftest import make_scenario, orchsim, run_summary

INCIDENT: dict[str, Any] = {
    "name": "evening-incident",
    "duration": "20m",
    "warmup": "2m",
    "window": "30s",
    "start": "2026-02-03T18:00:00Z",
    "timezone": "GMT",
    "workload": {"rate": 20},
    "clusters": [{"name": "a", "servers": 10, "slots": 2, "service": {"kind": "exponential", "mean": "500ms"}}],
    "faults": [{"kind": "error_rate", "target": "a", "at": "8m", "duration": "4m", "fraction": 0.6}],
}


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    fields = {k: v for k, v in INCIDENT.items() if k not in ("name",)}
    _, figures = run_summary(make_scenario(**fields), 1)
    return figures


def test_summary_carries_its_start_and_zone(summary: dict[str, Any]) -> None:
    assert summary["start"] == "2026-02-03T18:00:00+00:00"
    assert summary["timezone"] == "GMT"
    timeline = summary["incident"]["timeline"]
    first = timeline[0]
    assert (first["at_s"], first["at"], first["label"]) == (
        480.0,
        "2026-02-03T18:08:00+00:00",
        "error_rate on a begins",
    )


def test_rows_print_instants_in_clock_time_with_the_offset(summary: dict[str, Any]) -> None:
    rows = dict(summary_rows(Summary.from_dict(summary)))
    assert rows["t = 0 (scenario start)"] == "2026-02-03 18:00 GMT"
    assert rows["impact onset (first window below SLO)"] == "18:08 GMT (+8m)"
    assert "error_rate on a at 18:08 GMT (+8m)" in rows
    assert re.search(r" at 18:\d\d GMT \(\+\d+m\)$", rows["peak error rate (one window)"])
    # durations stay durations
    assert rows["time to detect: monitor / status page"] == "30s / 1m30s"


def test_tz_overrides_the_scenario_zone(summary: dict[str, Any]) -> None:
    clock = summary_clock(Summary.from_dict(summary), "Asia/Tokyo")
    rows = dict(summary_rows(Summary.from_dict(summary), clock))
    assert rows["impact onset (first window below SLO)"] == "03:08 JST (+8m)"
    incident = Summary.from_dict(summary).incident
    assert incident is not None and timeline_rows(incident.timeline, clock)[0] == (
        "03:08 JST (+8m)",
        "trigger",
        "error_rate on a begins",
    )


def test_an_old_summary_without_start_reads_as_midnight_utc() -> None:
    _, figures = run_summary(make_scenario(duration=600), 1)
    del figures["start"], figures["timezone"]
    old = Summary.from_dict(figures)
    assert summary_clock(old).label(3600) == "01:00 UTC (+1h00m)"
    assert old.to_dict() == figures and list(old.to_dict()) == list(figures)  # written back as it was read


def test_summarize_is_unchanged_by_the_display_zone() -> None:
    scenario = make_scenario(duration=300, timezone="Europe/Paris")
    result, figures = run_summary(scenario, 2)
    assert summarize(result).start == figures["start"] == "2026-01-01T00:00:00+00:00"


def test_run_and_report_print_clock_times(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "evening.yaml"
    path.write_text(yaml.safe_dump(INCIDENT))
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), "--no-plots", "--tz", "America/New_York"]) == 0
    printed = capsys.readouterr().out
    assert "13:08 EST (+8m)" in printed  # the onset and the timeline, in the zone asked for
    assert "incident timeline" in printed and "error_rate on a begins" in printed
    assert main(["report", str(out)]) == 0  # the report in the scenario's own zone
    html = (out / REPORT_FILE).read_text(encoding="utf-8")
    assert "<td class='num'>18:08 GMT (+8m)</td><td>trigger</td><td>error_rate on a begins</td>" in html
    assert ">18:00 GMT<tspan" in html and "(+0m)</tspan>" in html  # the status strip's axis
    assert main(["report", str(out), "--tz", "+05:30"]) == 0
    assert "23:38 UTC+05:30 (+8m)" in (out / REPORT_FILE).read_text(encoding="utf-8")


def test_an_unknown_tz_is_a_usage_error() -> None:
    done = orchsim("strategies", "--tz", "Mars/Olympus")
    assert done.returncode == 2
    assert "--tz: unknown time zone 'Mars/Olympus'" in done.stderr and "Traceback" not in done.stderr
