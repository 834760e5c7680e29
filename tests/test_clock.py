"""Clock time: a scenario's start plus offsets, shown in a zone with the offset beside it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from sim.clock import Clock, format_offset, parse_timezone
from sim.scenario.loading import ScenarioError
from tests.conftest import make_scenario

EVENING = dt.datetime(2026, 2, 3, 18, 0, tzinfo=dt.UTC)


def test_label_is_clock_time_with_the_offset_beside_it() -> None:
    clock = Clock(EVENING, parse_timezone("GMT"))
    assert clock.label(7 * 3600 + 4 * 60) == "01:04 GMT (+7h04m)"
    assert clock.iso(7 * 3600 + 4 * 60) == "2026-02-04T01:04:00+00:00"
    assert clock.label(45 * 60) == "18:45 GMT (+45m)"


def test_other_zones_and_fixed_offsets() -> None:
    assert Clock(EVENING, parse_timezone("Europe/Paris")).hm(0) == "19:00 CET"
    assert Clock(EVENING, parse_timezone("+05:30")).hm(0) == "23:30 UTC+05:30"
    assert Clock(EVENING).hm(0) == "18:00 UTC"
    times = Clock(EVENING).iso_column(np.array([0.0, 60.0]))
    assert times == ["2026-02-03T18:00:00+00:00", "2026-02-03T18:01:00+00:00"]


@pytest.mark.parametrize(("seconds", "text"), [(0, "+0m"), (59 * 60, "+59m"), (3600, "+1h00m"), (-300, "-5m")])
def test_format_offset(seconds: float, text: str) -> None:
    assert format_offset(seconds) == text


def test_unknown_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        parse_timezone("Mars/Olympus")


def test_scenario_start_and_timezone() -> None:
    scenario = make_scenario(start="2026-02-03T18:00:00+00:00", timezone="GMT")
    assert scenario.clock().label(3600) == "19:00 GMT (+1h00m)"
    assert scenario.clock("Asia/Tokyo").hm(0) == "03:00 JST"
    assert make_scenario().clock().iso(0) == "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"start": "2026-02-03T18:00:00"}, "start: must carry a time zone"),
        ({"start": "yesterday"}, "start: "),
        ({"timezone": "Nowhere/Land"}, "timezone: .*unknown time zone"),
    ],
)
def test_bad_start_or_zone_names_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        make_scenario(**fields)
