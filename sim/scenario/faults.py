"""Fault fields: what breaks, where, and when."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic.config import JsonDict

from sim.faults import KINDS, scenario_kinds
from sim.inputs.safe_input import MAX_FACTOR
from sim.scenario.base import Duration, PositiveDuration, ScenarioModel

__all__ = ["Fault"]


def _kind_enum(schema: JsonDict) -> None:
    """The schema lists the table's kinds (a new kind is one file in sim/faults/ and its registration)."""
    schema["enum"] = list(scenario_kinds())


class Fault(ScenarioModel):
    """A fault injected during ``[at, at + duration)`` (or ``[at, until)``)."""

    kind: str = Field(json_schema_extra=_kind_enum, description="what breaks (each kind is one file of sim/faults/)")
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

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in scenario_kinds():
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(scenario_kinds())}")
        return kind

    @model_validator(mode="after")
    def _window(self) -> Fault:
        if (self.duration is None) == (self.until is None):
            raise ValueError("give exactly one of duration or until")
        if self.until is not None and self.until <= self.at:
            raise ValueError(f"until must be after at (got at {self.at:g}s, until {self.until:g}s)")
        kind = KINDS[self.kind]
        if kind.targets_router != (self.target == "router"):
            router_kinds = " and ".join(name for name, k in KINDS.items() if k.targets_router)
            raise ValueError(f"target: {router_kinds} targets 'router' and only it does (got {self.target!r})")
        problem = kind.fault_problem(self)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def end_s(self) -> float:
        """End of the fault window in simulated seconds."""
        return self.until if self.until is not None else self.at + (self.duration or 0.0)
