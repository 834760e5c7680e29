"""Fault fields: what breaks, where, and when."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sim.safe_input import MAX_FACTOR
from sim.scenario.base import Duration, PositiveDuration, ScenarioModel

__all__ = ["Fault"]


class Fault(ScenarioModel):
    """A fault injected during ``[at, at + duration)`` (or ``[at, until)``)."""

    kind: Literal["crash", "error_rate", "slowdown", "partition", "drain", "router_saturation", "healthcheck_flap"]
    target: str = Field(description="a cluster name, CLUSTER/INDEX, or router (router_saturation)")
    at: Duration
    duration: PositiveDuration | None = None
    until: Duration | None = None
    fraction: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="share of servers (crash, slowdown, drain), of requests (error_rate), of probes (healthcheck_flap)",
    )
    factor: float = Field(
        default=1.0, gt=0, le=MAX_FACTOR, description="slowdown: service-time multiplier; router_saturation: capacity"
    )
    error_latency: Duration = Field(default=0.01, description="error_rate: time to answer 500")
    in_flight: Literal["fail", "lost"] = Field(
        default="fail", description="crash: requests held fail with 500 at once, or are lost (clients time out)"
    )

    @model_validator(mode="after")
    def _window(self) -> Fault:
        if (self.duration is None) == (self.until is None):
            raise ValueError("give exactly one of duration or until")
        if self.until is not None and self.until <= self.at:
            raise ValueError(f"until must be after at (got at {self.at:g}s, until {self.until:g}s)")
        if (self.kind == "router_saturation") != (self.target == "router"):
            raise ValueError(f"target: router_saturation targets 'router' and only it does (got {self.target!r})")
        if self.kind == "router_saturation" and self.factor >= 1:
            raise ValueError(f"factor: router_saturation keeps this share of capacity, below 1 (got {self.factor:g})")
        return self

    @property
    def end_s(self) -> float:
        """End of the fault window in simulated seconds."""
        return self.until if self.until is not None else self.at + (self.duration or 0.0)
