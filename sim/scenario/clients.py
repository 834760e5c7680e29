"""Client fields: timeouts, deadlines, retries with backoff, budgets and throttles."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sim.scenario.base import Duration, PositiveDuration, ScenarioModel

__all__ = ["AdaptiveThrottling", "Clients", "Regenerate", "RetryBudget", "RetryPolicy", "RetryThrottle"]


class RetryBudget(ScenarioModel):
    """Retries allowed as a share of recent requests plus a floor per second (Finagle style)."""

    ratio: float = Field(ge=0, le=1)
    min_per_s: float = Field(default=0.0, ge=0)
    ttl: PositiveDuration = 10.0


class RetryThrottle(ScenarioModel):
    """gRPC retry throttling: a token bucket; a failure costs 1 token, a success adds token_ratio,
    and retries are allowed only while more than half of max_tokens remain."""

    max_tokens: float = Field(default=10.0, gt=0)
    token_ratio: float = Field(default=0.1, gt=0)


class AdaptiveThrottling(ScenarioModel):
    """Client-side adaptive throttling (Google SRE book, "Handling Overload"): an attempt is refused
    locally (429) with probability max(0, (requests - k x accepts) / (requests + 1)) over the window."""

    k: float = Field(default=2.0, ge=1)
    window: PositiveDuration = 120.0


class RetryPolicy(ScenarioModel):
    """How a client retries a failed or timed-out attempt."""

    max: int = Field(default=0, ge=0, description="retries after the first attempt")
    backoff: Literal["none", "constant", "exponential"] = "exponential"
    base: Duration = 1.0
    cap: Duration = 30.0
    jitter: Literal["none", "full", "equal", "decorrelated"] = "full"
    budget: RetryBudget | None = None
    throttle: RetryThrottle | None = Field(default=None, description="gRPC-style retry token bucket")
    on: list[int] = Field(default_factory=lambda: [500, 502, 503, 504], description="codes retried")

    @model_validator(mode="after")
    def _cap_covers_base(self) -> RetryPolicy:
        if self.backoff != "none" and self.cap < self.base:
            raise ValueError(f"cap must be at least base (got cap {self.cap:g}s < base {self.base:g}s)")
        return self


class Regenerate(ScenarioModel):
    """Users who, after a request finally fails, ask again ("regenerate") as a new request."""

    probability: float = Field(ge=0, le=1, description="share of failed requests asked again")
    delay: PositiveDuration = Field(default=5.0, description="time between the failure and the new request")


class Clients(ScenarioModel):
    """Client behaviour: per-attempt timeout and retries."""

    timeout: PositiveDuration | None = None
    cancel_on_timeout: bool = Field(default=False, description="servers drop work of abandoned attempts")
    adaptive_throttling: AdaptiveThrottling | None = Field(default=None, description="refuse locally when overloaded")
    deadline: PositiveDuration | None = Field(
        default=None, description="users abandon a request this long after it arrived: no retry is sent later"
    )
    regenerate: Regenerate | None = Field(default=None, description="failed requests asked again by users")
    retries: RetryPolicy = Field(default_factory=RetryPolicy)
