"""Fault fields: what breaks, where, and when."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sim.scenario.base import Duration, PositiveDuration, ScenarioModel

__all__ = ["Fault"]


class Fault(ScenarioModel):
    """A fault injected during ``[at, at + duration)`` (or ``[at, until)``)."""

    kind: Literal["crash", "error_rate", "slowdown"]
    target: str = Field(description="a cluster name or CLUSTER/INDEX")
    at: Duration
    duration: PositiveDuration | None = None
    until: Duration | None = None
    fraction: float = Field(
        default=1.0, gt=0, le=1, description="share of servers (crash/slowdown) or requests (error_rate)"
    )
    factor: float = Field(default=1.0, gt=0, description="slowdown: service-time multiplier")
    error_latency: Duration = Field(default=0.01, description="error_rate: time to answer 500")

    @model_validator(mode="after")
    def _window(self) -> Fault:
        if (self.duration is None) == (self.until is None):
            raise ValueError("give exactly one of duration or until")
        if self.until is not None and self.until <= self.at:
            raise ValueError(f"until must be after at (got at {self.at:g}s, until {self.until:g}s)")
        return self

    @property
    def end_s(self) -> float:
        """End of the fault window in simulated seconds."""
        return self.until if self.until is not None else self.at + (self.duration or 0.0)
