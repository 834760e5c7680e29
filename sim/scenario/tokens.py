"""Token-count distributions, trace replay and model migrations (the LLM side of a workload).

Files named here (an empirical histogram, a trace) are read and checked when the scenario is
loaded, relative to the scenario file's folder, so a malformed row is an error with its line.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from sim.inputs.datafiles import read_histogram, read_trace, resolve
from sim.inputs.safe_input import MAX_FACTOR, MAX_TOKENS
from sim.scenario.base import Duration, PositiveDuration, ScenarioModel

__all__ = ["Migration", "TokenCount", "TokenCountField", "TraceReplay"]


class TokenCount(ScenarioModel):
    """How many tokens a request has: a constant, a uniform range, a lognormal, a Pareto tail or an
    empirical histogram."""

    kind: Literal["constant", "uniform", "lognormal", "pareto", "empirical"] = "constant"
    value: int | None = Field(default=None, gt=0, le=MAX_TOKENS, description="constant: the count")
    mean: float | None = Field(default=None, gt=0, le=MAX_TOKENS, description="lognormal: mean count")
    cv: float = Field(default=1.0, gt=0, description="lognormal: coefficient of variation")
    alpha: float | None = Field(default=None, gt=0, description="pareto: tail index (smaller = heavier)")
    min: int | None = Field(
        default=None, gt=0, le=MAX_TOKENS, description="pareto: smallest count (scale); uniform: smallest"
    )
    max: int | None = Field(
        default=None, gt=0, le=MAX_TOKENS, description="cap on every draw (e.g. the context length)"
    )
    file: str | None = Field(default=None, description="empirical: CSV of tokens,weight rows (a histogram)")

    @model_validator(mode="after")
    def _parameters_of_kind(self) -> TokenCount:
        needs = {
            "constant": ("value",),
            "uniform": ("min", "max"),
            "lognormal": ("mean",),
            "pareto": ("alpha", "min"),
            "empirical": ("file",),
        }
        missing = [name for name in needs[self.kind] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind} token count needs {' and '.join(missing)}")
        if self.max is not None and self.min is not None and self.max < self.min:
            raise ValueError(f"max: must be at least min, {self.min} (got {self.max})")
        return self

    @field_validator("file")
    @classmethod
    def _readable_histogram(cls, file: str | None, info: ValidationInfo) -> str | None:
        if file is None:
            return None
        path = resolve(file, info.context)
        read_histogram(path)  # raises ValueError naming the file and line
        return str(path)


def _count_shorthand(value: Any) -> Any:
    """``prompt_tokens: 500`` means a constant of 500."""
    if isinstance(value, int) and not isinstance(value, bool):
        return {"kind": "constant", "value": value}
    return value


TokenCountField = Annotated[TokenCount, BeforeValidator(_count_shorthand)]


class TraceReplay(ScenarioModel):
    """Replay recorded requests instead of drawing arrivals: a CSV of
    ``time_s,class,prompt_tokens,output_tokens[,session]`` (``class`` may name a model instead)."""

    file: str = Field(description="CSV path, relative to the scenario file")
    time_scale: float = Field(
        default=1.0, gt=0, le=MAX_FACTOR, description="recorded times are divided by this (2 = twice as fast)"
    )

    @field_validator("file")
    @classmethod
    def _readable_trace(cls, file: str, info: ValidationInfo) -> str:
        path = resolve(file, info.context)
        read_trace(path)  # raises ValueError naming the file and line
        return str(path)


class Migration(ScenarioModel):
    """Move a share of one model's traffic to another model, ramping linearly over ``[start, end]``."""

    from_model: str = Field(min_length=1, description="the model being retired")
    to_model: str = Field(min_length=1, description="the model its traffic moves to")
    start: Duration
    end: PositiveDuration
    share: float = Field(default=1.0, gt=0, le=1, description="share moved once the ramp is over")

    @model_validator(mode="after")
    def _ordered(self) -> Migration:
        if self.end <= self.start:
            raise ValueError(f"end: must be after start, {self.start:g}s (got {self.end:g}s)")
        if self.from_model == self.to_model:
            raise ValueError(f"to_model: must differ from from_model (got {self.to_model!r})")
        return self

    def moved_share(self, t_s: float) -> float:
        """Share of ``from_model`` requests sent to ``to_model`` at time ``t_s``."""
        ramp = min(max((t_s - self.start) / (self.end - self.start), 0.0), 1.0)
        return self.share * ramp
