"""Clock time of simulated instants: a scenario's ``start`` plus an offset, shown in a time zone.

An on-call engineer reads an incident in clock time (``01:04 GMT``); the simulator counts seconds
from t = 0. ``Clock`` turns one into the other and prints both (``01:04 GMT (+7h04m)``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

__all__ = ["DEFAULT_START", "Clock", "format_offset", "parse_timezone"]

DEFAULT_START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
"""t = 0 of a scenario that gives no ``start``: midnight UTC (a fixed date keeps runs reproducible)."""


def parse_timezone(name: str) -> dt.tzinfo:
    """An IANA zone (``Europe/Paris``), ``UTC``/``GMT``, or a fixed offset (``+02:00``)."""
    text = name.strip()
    if text.upper() in ("UTC", "Z"):
        return dt.UTC
    if text[:1] in "+-" and len(text) == 6 and text[3] == ":":
        try:
            hours, minutes = int(text[1:3]), int(text[4:6])
        except ValueError:
            pass
        else:
            if hours < 24 and minutes < 60:
                sign = -1 if text[0] == "-" else 1
                return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Paris, UTC, or +02:00)") from error


def format_offset(seconds: float) -> str:
    """Signed offset from t = 0 in hours and minutes: ``+7h04m``, ``+45m``, ``-5m``, ``+0m``."""
    sign = "-" if seconds < 0 else "+"
    minutes = round(abs(seconds) / 60.0)
    hours, minutes = divmod(minutes, 60)
    return f"{sign}{hours}h{minutes:02d}m" if hours else f"{sign}{minutes}m"


@dataclass(frozen=True)
class Clock:
    """Clock time of simulated instants: ``start`` is t = 0, shown in ``tz`` (default: start's zone)."""

    start: dt.datetime = DEFAULT_START
    tz: dt.tzinfo | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start must carry a time zone")

    @property
    def zone(self) -> dt.tzinfo:
        """The zone times are shown in."""
        return self.tz if self.tz is not None else self.start.tzinfo or dt.UTC

    def at(self, offset_s: float) -> dt.datetime:
        """The aware date-time ``offset_s`` seconds after t = 0, in the display zone."""
        return (self.start + dt.timedelta(seconds=float(offset_s))).astimezone(self.zone)

    def iso(self, offset_s: float) -> str:
        """ISO-8601 date-time with its offset, to the second: ``2026-02-04T01:04:00+00:00``."""
        return self.at(offset_s).isoformat(timespec="seconds")

    def hm(self, offset_s: float) -> str:
        """Clock time and zone: ``01:04 GMT``."""
        moment = self.at(offset_s)
        return f"{moment:%H:%M} {_zone_name(moment)}"

    def label(self, offset_s: float) -> str:
        """Clock time with the offset beside it: ``01:04 GMT (+7h04m)``."""
        return f"{self.hm(offset_s)} ({format_offset(offset_s)})"

    def iso_column(self, offsets_s: np.ndarray) -> list[str]:
        """ISO date-times of an array of offsets (a ``time`` column)."""
        return [self.iso(float(s)) for s in np.asarray(offsets_s, dtype=float)]


def _zone_name(moment: dt.datetime) -> str:
    name = moment.tzname() or ""
    if name and not name.startswith(("UTC+", "UTC-")):
        return name
    offset = moment.utcoffset() or dt.timedelta(0)
    total_min = int(offset.total_seconds() // 60)
    sign = "-" if total_min < 0 else "+"
    hours, minutes = divmod(abs(total_min), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"
