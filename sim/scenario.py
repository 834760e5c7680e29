"""Typed scenario models: load YAML/TOML, apply ``--set`` overrides, validate, export a JSON Schema."""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from sim.strategies import STRATEGIES, strategy_problems
from sim.units import parse_duration_s

__all__ = [
    "AdaptiveThrottling",
    "Clients",
    "Cluster",
    "Fault",
    "ProfilePoint",
    "RequestClass",
    "RetryBudget",
    "RetryPolicy",
    "RetryThrottle",
    "Router",
    "Scenario",
    "ServiceModel",
    "Slo",
    "Surge",
    "Workload",
]

Duration = Annotated[
    float,
    BeforeValidator(parse_duration_s),
    Field(ge=0, json_schema_extra={"description": "seconds, or a string with a unit: 250ms, 90s, 5m, 2h"}),
    PlainSerializer(float),
]
PositiveDuration = Annotated[Duration, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProfilePoint(_Model):
    """One point of the rate profile; the rate ramps linearly to the next point.

    Give ``rate`` (arrivals per second) or ``factor`` (a multiple of ``workload.rate``).
    """

    at: Duration
    rate: float | None = Field(default=None, ge=0, description="arrivals per second at this time")
    factor: float | None = Field(default=None, ge=0, description="multiple of workload.rate at this time")

    @model_validator(mode="after")
    def _one_of(self) -> ProfilePoint:
        if (self.rate is None) == (self.factor is None):
            raise ValueError("give exactly one of rate or factor")
        return self

    def rate_rps(self, base_rps: float) -> float:
        """Arrival rate at this point, per second."""
        return self.rate if self.rate is not None else base_rps * (self.factor or 0.0)


class RequestClass(_Model):
    """A kind of user request, drawn with probability proportional to its weight."""

    name: str
    weight: float = Field(default=1.0, gt=0)
    model: str | None = Field(default=None, description="model it asks for; null = any cluster")
    work: float = Field(default=1.0, gt=0, description="service-time multiplier")
    region: str | None = Field(default=None, description="where its users are (region_spillover routing)")


class Surge(_Model):
    """A burst of traffic: the rate is multiplied by ``factor`` during ``[at, at + duration)``."""

    at: Duration
    duration: PositiveDuration
    factor: float = Field(gt=0, description="rate multiplier during the surge")

    @property
    def end_s(self) -> float:
        """End of the surge in simulated seconds."""
        return self.at + self.duration


class Sessions(_Model):
    """Requests belong to sessions (affinity keys) with Zipf-like popularity."""

    count: int = Field(gt=0, description="number of distinct sessions")
    skew: float = Field(default=0.0, ge=0, description="popularity exponent: 0 uniform, 1 Zipf")


class Workload(_Model):
    """Open-loop Poisson arrivals at ``rate``, optionally shaped by a profile over time."""

    rate: float = Field(gt=0, description="base arrival rate, requests per second")
    profile: list[ProfilePoint] | None = None
    classes: list[RequestClass] = Field(default_factory=list)
    surges: list[Surge] = Field(default_factory=list, description="bursts on top of rate/profile; triggers")
    sessions: Sessions | None = Field(default=None, description="affinity keys; null = one per request")

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
    def _positive_somewhere(self) -> Workload:
        if self.profile is not None and max(p.rate_rps(self.rate) for p in self.profile) <= 0:
            raise ValueError("profile: must have a positive rate somewhere")
        return self

    @field_validator("classes")
    @classmethod
    def _unique_classes(cls, classes: list[RequestClass]) -> list[RequestClass]:
        names = [c.name for c in classes]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"class names must be unique (repeated: {', '.join(dupes)})")
        return classes


class ServiceModel(_Model):
    """Service-time distribution of one request on one slot, in seconds."""

    kind: Literal["exponential", "deterministic", "lognormal"] = "exponential"
    mean: PositiveDuration = 1.0
    cv: float = Field(default=1.0, gt=0, description="lognormal only: coefficient of variation")
    concurrency_curve: list[tuple[int, float]] | None = Field(
        default=None,
        description="[[concurrent, factor], ...]: service time x factor at the concurrency a request starts at "
        "(linear between points, flat outside); e.g. [[1, 1.0], [8, 3.0]] for batching slowdown",
    )

    @field_validator("concurrency_curve")
    @classmethod
    def _curve_ordered(cls, curve: list[tuple[int, float]] | None) -> list[tuple[int, float]] | None:
        if curve is None:
            return None
        if not curve:
            raise ValueError("must list at least one [concurrent, factor] point, or be null")
        for (n_before, _), (n_after, _) in itertools.pairwise(curve):
            if n_after <= n_before:
                raise ValueError(f"concurrency must increase from point to point (got {n_after} after {n_before})")
        for n, factor in curve:
            if n < 1 or factor <= 0:
                raise ValueError(f"points need concurrency >= 1 and factor > 0 (got [{n}, {factor}])")
        return curve

    def factors(self, slots: int) -> list[float] | None:
        """Service-time factor by concurrency 0..slots (None when service time ignores concurrency)."""
        if self.concurrency_curve is None:
            return None
        xs = [float(n) for n, _ in self.concurrency_curve]
        ys = [f for _, f in self.concurrency_curve]
        return [_interp(float(n), xs, ys) for n in range(slots + 1)]

    @property
    def second_moment_s2(self) -> float:
        """E[S^2] in s^2, for Pollaczek-Khinchine."""
        if self.kind == "exponential":
            return 2.0 * self.mean**2
        if self.kind == "deterministic":
            return self.mean**2
        return self.mean**2 * (1.0 + self.cv**2)


def _interp(x: float, xs: list[float], ys: list[float]) -> float:
    """Piecewise-linear interpolation, flat outside the points."""
    if x <= xs[0]:
        return ys[0]
    for (x0, y0), (x1, y1) in itertools.pairwise(zip(xs, ys, strict=True)):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return ys[-1]


class Cluster(_Model):
    """A group of identical servers serving a set of models."""

    name: str = Field(min_length=1)
    servers: int = Field(gt=0)
    slots: int = Field(default=1, gt=0, description="concurrent requests one server serves")
    queue_limit: int | None = Field(default=None, ge=0, description="waiting room per server; full -> 503")
    service: ServiceModel = Field(default_factory=ServiceModel)
    models: list[str] | None = Field(default=None, description="models served; null = all")
    region: str | None = Field(default=None, description="its region (region_spillover routing)")
    weight: float = Field(default=1.0, gt=0, description="share of traffic (weighted cluster routing)")
    strategy: str | None = Field(default=None, description="server choice here; null = router.strategy")
    params: dict[str, Any] | None = Field(default=None, description="parameters of this cluster's strategy")

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, name: str | None) -> str | None:
        if name is not None and name not in STRATEGIES:
            raise ValueError(f"unknown strategy; known: {', '.join(sorted(STRATEGIES))}")
        return name

    @field_validator("name")
    @classmethod
    def _no_slash(cls, name: str) -> str:
        if "/" in name:
            raise ValueError("must not contain '/' (it separates a cluster from a server index)")
        return name


class Router(_Model):
    """The orchestration layer: picks a cluster able to serve the request, then a server."""

    strategy: str = "random"
    params: dict[str, Any] = Field(default_factory=dict, description="parameters of the strategy")
    cluster_strategy: Literal["capacity_weighted", "least_loaded", "weighted", "region_spillover"] = Field(
        default="capacity_weighted", description="first level: which cluster able to serve the model"
    )
    spill_threshold: float = Field(
        default=0.9, gt=0, description="region_spillover: leave the home region above this utilisation"
    )
    report_interval: PositiveDuration | None = Field(
        default=None, description="servers report load this often; strategies see the last report (stale)"
    )
    instances: int = Field(default=1, gt=0)
    concurrency: int | None = Field(default=None, gt=0, description="requests per instance; null = unbounded")
    overhead: Duration = Field(default=0.0, description="routing delay added to every attempt")
    queue_limit: int | None = Field(default=None, ge=0, description="central_queue only: router queue cap")

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, name: str) -> str:
        if name not in STRATEGIES:
            raise ValueError(f"unknown strategy; known: {', '.join(sorted(STRATEGIES))}")
        return name


class RetryBudget(_Model):
    """Retries allowed as a share of recent requests plus a floor per second (Finagle style)."""

    ratio: float = Field(ge=0, le=1)
    min_per_s: float = Field(default=0.0, ge=0)
    ttl: PositiveDuration = 10.0


class RetryThrottle(_Model):
    """gRPC retry throttling: a token bucket; a failure costs 1 token, a success adds token_ratio,
    and retries are allowed only while more than half of max_tokens remain."""

    max_tokens: float = Field(default=10.0, gt=0)
    token_ratio: float = Field(default=0.1, gt=0)


class AdaptiveThrottling(_Model):
    """Client-side adaptive throttling (Google SRE book, "Handling Overload"): an attempt is refused
    locally (429) with probability max(0, (requests - k x accepts) / (requests + 1)) over the window."""

    k: float = Field(default=2.0, ge=1)
    window: PositiveDuration = 120.0


class RetryPolicy(_Model):
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


class Clients(_Model):
    """Client behaviour: per-attempt timeout and retries."""

    timeout: PositiveDuration | None = None
    cancel_on_timeout: bool = Field(default=False, description="servers drop work of abandoned attempts")
    adaptive_throttling: AdaptiveThrottling | None = Field(default=None, description="refuse locally when overloaded")
    deadline: PositiveDuration | None = Field(
        default=None, description="users abandon a request this long after it arrived: no retry is sent later"
    )
    retries: RetryPolicy = Field(default_factory=RetryPolicy)


class Fault(_Model):
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


class Slo(_Model):
    """Service-level objective used for goodput, uptime and recovery."""

    latency: PositiveDuration | None = Field(default=None, description="goodput counts successes within this")
    availability: float = Field(default=0.99, gt=0, le=1, description="a window is 'up' at or above this")
    recovery: PositiveDuration = Field(default=1800.0, description="time after a trigger to count as recovered")


class Scenario(_Model):
    """A whole scenario: traffic, clusters, router, clients, faults."""

    name: str = "scenario"
    description: str = ""
    duration: PositiveDuration
    warmup: Duration = 0.0
    drain: Duration = Field(default=300.0, description="simulated time after duration for in-flight work")
    window: PositiveDuration = Field(default=60.0, description="time-series window")
    seed: int = Field(default=1, ge=0)
    workload: Workload
    clusters: list[Cluster] = Field(min_length=1)
    router: Router = Field(default_factory=Router)
    clients: Clients = Field(default_factory=Clients)
    faults: list[Fault] = Field(default_factory=list)
    slo: Slo = Field(default_factory=Slo)

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        if self.warmup >= self.duration:
            raise ValueError(f"warmup must be shorter than duration (got {self.warmup:g}s >= {self.duration:g}s)")
        names = [c.name for c in self.clusters]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"cluster names must be unique (repeated: {', '.join(dupes)})")
        for i, fault in enumerate(self.faults):
            _check_target(self, i, fault)
        for i, cluster in enumerate(self.clusters):
            _check_strategy(self, i, cluster)
        served = {m for c in self.clusters if c.models is not None for m in c.models}
        serves_all = any(c.models is None for c in self.clusters)
        for i, klass in enumerate(self.workload.classes):
            if klass.model is not None and not serves_all and klass.model not in served:
                raise ValueError(f"workload.classes.{i}.model: no cluster serves model {klass.model!r}")
        if not math.isfinite(self.duration + self.drain):
            raise ValueError("duration and drain must be finite")
        return self

    @property
    def total_slots(self) -> int:
        """Configured slots over every cluster."""
        return sum(c.servers * c.slots for c in self.clusters)

    def cluster_index(self, name: str) -> int:
        """Index of the cluster called ``name``."""
        return [c.name for c in self.clusters].index(name)


def _check_strategy(scenario: Scenario, i: int, cluster: Cluster) -> None:
    if cluster.strategy is None:
        name, params, where = scenario.router.strategy, scenario.router.params, "router.params"
    else:
        name, params, where = cluster.strategy, cluster.params or {}, f"clusters.{i}.params"
    problems = strategy_problems(name, params, cluster.servers)
    if problems:
        raise ValueError(f"{where}.{problems[0]}")


def _check_target(scenario: Scenario, i: int, fault: Fault) -> None:
    cluster, _, index = fault.target.partition("/")
    names = [c.name for c in scenario.clusters]
    if cluster not in names:
        raise ValueError(f"faults.{i}.target: no cluster named {cluster!r} (known: {', '.join(names)})")
    if index:
        servers = scenario.clusters[names.index(cluster)].servers
        if not index.isdigit() or int(index) >= servers:
            raise ValueError(f"faults.{i}.target: server index must be 0..{servers - 1} (got {index!r})")


def json_schema() -> dict[str, Any]:
    """JSON Schema of scenario files (as loaded, before defaults)."""
    schema = Scenario.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "orchsim scenario"
    return schema
