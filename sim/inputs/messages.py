"""Wording of validation messages: pydantic's phrasing turned into orchsim's ``field: must ...``."""

from __future__ import annotations

__all__ = ["reword"]

_PHRASES = (
    ("Value error, ", ""),
    ("Assertion failed, ", ""),
    ("Input should be", "must be"),
    ("Field required", "is required"),
    ("Extra inputs are not permitted", "unknown field"),
    ("List should have at least", "must list at least"),
)


def reword(message: str) -> str:
    """A pydantic error message in orchsim's wording, starting lower-case."""
    for old, new in _PHRASES:
        message = message.replace(old, new)
    return message[:1].lower() + message[1:]
