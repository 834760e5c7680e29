"""Parsing of durations written with units (``250us``, ``250ms``, ``90s``, ``5m``, ``2h``)."""

from __future__ import annotations

import math
import re

__all__ = ["DURATION_PATTERN", "format_duration", "parse_duration_s"]

_UNIT_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_NUMBER = r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
_PLAIN = re.compile(rf"^\s*({_NUMBER})\s*$")
_PARTS = re.compile(rf"\s*({_NUMBER})\s*(us|ms|min|s|m|h|d)")
_WHOLE = re.compile(rf"^(?:\s*{_NUMBER}\s*(?:us|ms|min|s|m|h|d))+\s*$")
DURATION_PATTERN = rf"^\s*(?:{_NUMBER}|(?:\s*{_NUMBER}\s*(?:us|ms|min|s|m|h|d))+)\s*$"
"""Every string ``parse_duration_s`` accepts (ECMA-262 regex, for the JSON Schema): ``90``, ``250ms``, ``1h30m``."""


def parse_duration_s(value: object) -> float:
    """Seconds from a number (seconds) or a string with units: ``250ms``, ``5m``, ``1h30m``."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 90, '250ms', '90s', '5m' or '2h'")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        plain = _PLAIN.match(value)
        if plain is not None:
            seconds = float(plain.group(1))
        elif _WHOLE.match(value):
            seconds = sum(float(n) * _UNIT_S[unit] for n, unit in _PARTS.findall(value))
        else:
            raise ValueError("must be a duration such as 90, '250ms', '90s', '5m', '2h' or '1h30m'")
    else:
        raise ValueError("must be a duration such as 90, '250ms', '90s', '5m' or '2h'")
    if not math.isfinite(seconds):
        raise ValueError("must be a finite duration")
    return seconds


def format_duration(seconds: float) -> str:
    """Short human form of a duration in seconds: ``1h30m``, ``45s``, ``250ms``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{sec}s" if sec else "")
