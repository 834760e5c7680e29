import pytest

from sim.inputs.units import format_duration, parse_duration_s


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90.0),
        (1.5, 1.5),
        ("90", 90.0),
        ("250ms", 0.25),
        ("90s", 90.0),
        ("5m", 300.0),
        ("5min", 300.0),
        ("2h", 7200.0),
        ("1h30m", 5400.0),
        ("1h 30m 15s", 5415.0),
        ("1d", 86400.0),
        ("1.5h", 5400.0),
    ],
)
def test_durations_parse_to_seconds(text: object, seconds: float) -> None:
    assert parse_duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "fast", "2h30", "5 parsecs", "-3s", True, None, [1], "inf"])
def test_bad_durations_are_refused(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration_s(text)


def test_format_duration_reads_naturally() -> None:
    assert format_duration(0.25) == "250ms"
    assert format_duration(45) == "45s"
    assert format_duration(5400) == "1h30m"
    assert format_duration(3600) == "1h"
