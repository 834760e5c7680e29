"""Shared pieces of scenario models: frozen models that refuse unknown keys, duration types."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

from sim.inputs.safe_input import MAX_TIME_S
from sim.inputs.units import DURATION_PATTERN, parse_duration_s

__all__ = ["Duration", "PositiveDuration", "ScenarioModel", "duration_schema"]


def duration_schema(positive: bool) -> dict[str, Any]:
    """JSON Schema of a duration: a number of seconds, or a string with units (``250ms``, ``5m``, ``1h30m``)."""
    bound = {"exclusiveMinimum": 0} if positive else {"minimum": 0}
    return {
        "anyOf": [{"type": "number", **bound, "maximum": MAX_TIME_S}, {"type": "string", "pattern": DURATION_PATTERN}],
        "description": ("a positive " if positive else "")
        + "duration: seconds, or a string with a unit: 250ms, 90s, 5m, 2h, 1h30m",
    }


Duration = Annotated[
    float,
    BeforeValidator(parse_duration_s),
    Field(ge=0, le=MAX_TIME_S),
    PlainSerializer(float),
    WithJsonSchema(duration_schema(positive=False), mode="validation"),
]
PositiveDuration = Annotated[
    float,
    BeforeValidator(parse_duration_s),
    Field(gt=0, le=MAX_TIME_S),
    PlainSerializer(float),
    WithJsonSchema(duration_schema(positive=True), mode="validation"),
]


class ScenarioModel(BaseModel):
    """Frozen; unknown keys, infinities and NaN are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
