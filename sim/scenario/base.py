"""Shared pieces of scenario models: frozen models that refuse unknown keys, duration types."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from sim.units import parse_duration_s

__all__ = ["Duration", "PositiveDuration", "ScenarioModel"]

Duration = Annotated[
    float,
    BeforeValidator(parse_duration_s),
    Field(ge=0, json_schema_extra={"description": "seconds, or a string with a unit: 250ms, 90s, 5m, 2h"}),
    PlainSerializer(float),
]
PositiveDuration = Annotated[Duration, Field(gt=0)]


class ScenarioModel(BaseModel):
    """Frozen; unknown keys, infinities and NaN are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
