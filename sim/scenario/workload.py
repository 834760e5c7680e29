"""Workload fields: base rate, rate profile, surges, request classes, sessions."""

from __future__ import annotations

import itertools
from typing import Literal

from pydantic import Field, field_validator, model_validator

from sim.inputs.safe_input import MAX_COUNT, MAX_FACTOR, MAX_RATE_RPS
from sim.scenario.base import Duration, PositiveDuration, ScenarioModel
from sim.scenario.tokens import Migration, TokenCount, TokenCountField, TraceReplay

__all__ = ["ProfilePoint", "RequestClass", "Sessions", "Surge", "Workload"]


class ProfilePoint(ScenarioModel):
    """One point of the rate profile; the rate ramps linearly to the next point.

    Give ``rate`` (arrivals per second) or ``factor`` (a multiple of ``workload.rate``).
    """

    at: Duration
    rate: float | None = Field(default=None, ge=0, le=MAX_RATE_RPS, description="arrivals per second at this time")
    factor: float | None = Field(
        default=None, ge=0, le=MAX_FACTOR, description="multiple of workload.rate at this time"
    )

    @model_validator(mode="after")
    def _one_of(self) -> ProfilePoint:
        if (self.rate is None) == (self.factor is None):
            raise ValueError("give exactly one of rate or factor")
        return self

    def rate_rps(self, base_rps: float) -> float:
        """Arrival rate at this point, per second."""
        return self.rate if self.rate is not None else base_rps * (self.factor or 0.0)


class RequestClass(ScenarioModel):
    """A kind of user request, drawn with probability proportional to its weight."""

    name: str
    weight: float = Field(default=1.0, gt=0)
    model: str | None = Field(default=None, description="model it asks for; null = any cluster")
    work: float = Field(default=1.0, gt=0, le=MAX_FACTOR, description="service-time multiplier")
    region: str | None = Field(default=None, description="where its users are (region_spillover routing)")
    priority: int = Field(default=0, description="criticality: a full waiting room evicts lower priorities first")
    prompt_tokens: TokenCountField | None = Field(default=None, description="null = workload.prompt_tokens")
    output_tokens: TokenCountField | None = Field(default=None, description="null = workload.output_tokens")
    stream: bool = Field(default=False, description="answers stream tokens (server-sent events)")


class Surge(ScenarioModel):
    """A burst of traffic: the rate is multiplied by ``factor`` during ``[at, at + duration)``."""

    at: Duration
    duration: PositiveDuration
    factor: float = Field(gt=0, le=MAX_FACTOR, description="rate multiplier during the surge")

    @property
    def end_s(self) -> float:
        """End of the surge in simulated seconds."""
        return self.at + self.duration


class Sessions(ScenarioModel):
    """Requests belong to sessions (affinity keys) with Zipf-like popularity."""

    count: int = Field(gt=0, le=MAX_COUNT, description="number of distinct sessions")
    skew: float = Field(default=0.0, ge=0, description="popularity exponent: 0 uniform, 1 Zipf")


class Workload(ScenarioModel):
    """Open-loop Poisson arrivals at ``rate`` (optionally shaped by a profile over time), or a closed
    loop of ``users``, each sending its next request when its previous one has ended."""

    rate: float | None = Field(
        default=None, gt=0, le=MAX_RATE_RPS, description="base arrival rate, requests per second"
    )
    users: int | None = Field(
        default=None,
        gt=0,
        le=MAX_COUNT,
        description="instead of rate: closed loop, this many users each sending the next request when the "
        "previous one has finally ended (success or failure, after its retries)",
    )
    think_time: Duration = Field(default=0.0, description="closed loop: pause between an answer and the next request")
    requests_per_user: int | None = Field(
        default=None,
        gt=0,
        le=MAX_COUNT,
        description="closed loop: each user stops after this many requests (a benchmark's num_prompts / "
        "concurrency); null = until the end of the run",
    )
    profile: list[ProfilePoint] | None = None
    classes: list[RequestClass] = Field(default_factory=list)
    surges: list[Surge] = Field(default_factory=list, description="bursts on top of rate/profile; triggers")
    sessions: Sessions | None = Field(default=None, description="affinity keys; null = one per request")
    prompt_tokens: TokenCountField = Field(
        default=TokenCount(kind="constant", value=512),
        description="prompt length of classes that give none (used by the llm service model)",
    )
    output_tokens: TokenCountField = Field(
        default=TokenCount(kind="constant", value=256),
        description="answer length of classes that give none",
    )
    trace: TraceReplay | None = Field(default=None, description="replay a recorded trace instead of drawing arrivals")
    migrations: list[Migration] = Field(default_factory=list, description="traffic moved from one model to another")
    service_draws: Literal["per_server", "per_request"] = Field(
        default="per_server",
        description="per_server: each server draws service times from its own stream; per_request: each request "
        "carries one uniform draw that the serving cluster's model turns into its service time, whichever server "
        "serves it (its retries too), and its retries' backoff jitter is drawn from it as well; orchsim validate uses "
        "it so the mock and the simulation share the work and the retry timing",
    )

    @field_validator("profile")
    @classmethod
    def _profile_ordered(cls, points: list[ProfilePoint] | None) -> list[ProfilePoint] | None:
        if points is None:
            return None
        if not points:
            raise ValueError("must list at least one point, or be null")
        for before, after in itertools.pairwise(points):
            if after.at < before.at:
                raise ValueError(f"times must not go backwards ({after.at:g}s after {before.at:g}s)")
        return points

    @model_validator(mode="after")
    def _rate_or_users(self) -> Workload:
        if (self.rate is None) == (self.users is None):
            raise ValueError("give exactly one of rate (open loop) or users (closed loop)")
        if self.users is not None:
            rate_only = [name for name in ("profile", "trace") if getattr(self, name) is not None]
            rate_only += [name for name in ("surges", "migrations") if getattr(self, name)]
            if rate_only:
                raise ValueError(
                    f"{', '.join(rate_only)}: need open-loop arrival times; a closed loop (users) has none"
                )
        elif self.think_time or self.requests_per_user:
            raise ValueError("think_time, requests_per_user: apply to a closed loop (users) only")
        if self.profile is not None and max(p.rate_rps(self.base_rps) for p in self.profile) <= 0:
            raise ValueError("profile: must have a positive rate somewhere")
        return self

    @property
    def base_rps(self) -> float:
        """The open-loop base rate (0 for a closed loop, which has none)."""
        return self.rate or 0.0

    @field_validator("classes")
    @classmethod
    def _unique_classes(cls, classes: list[RequestClass]) -> list[RequestClass]:
        names = [c.name for c in classes]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"class names must be unique (repeated: {', '.join(dupes)})")
        return classes
