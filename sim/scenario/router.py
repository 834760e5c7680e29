"""Router fields: the orchestration layer's strategy, capacity and routing levels."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, field_validator, model_serializer

from sim.scenario.base import Duration, PositiveDuration, ScenarioModel
from sim.strategies import STRATEGIES

__all__ = ["AdaptiveConcurrency", "HealthCheck", "OutlierEjection", "Router", "RouterRetries"]


class HealthCheck(ScenarioModel):
    """Active health checks: a probe per server every interval; it fails when the server is down,
    unreachable, or so loaded that the probe would wait longer than its timeout behind the queue."""

    interval: PositiveDuration = 5.0
    timeout: PositiveDuration = 1.0
    unhealthy_threshold: int = Field(default=3, ge=1, description="consecutive failures to mark unhealthy")
    healthy_threshold: int = Field(default=2, ge=1, description="consecutive successes to mark healthy again")


class OutlierEjection(ScenarioModel):
    """Passive outlier ejection (Envoy style): eject a server after consecutive 5xx answers."""

    consecutive_5xx: int = Field(default=5, ge=1)
    base_ejection: PositiveDuration = Field(default=30.0, description="ejected for this x number of ejections")
    max_ejected_fraction: float = Field(default=0.1, gt=0, le=1, description="at least one server may be ejected")


class AdaptiveConcurrency(ScenarioModel):
    """Gradient concurrency limit per cluster (after Netflix concurrency-limits): every interval the limit
    moves toward limit x clamp(tolerance x lowest recent latency / latency now, 0.5, 1) + sqrt(limit);
    attempts over the limit get 503 from the router."""

    interval: PositiveDuration = Field(default=5.0, description="how often the limit moves (enough samples each)")
    tolerance: float = Field(default=1.5, ge=1, description="latency growth tolerated before the limit shrinks")
    window: int = Field(default=60, ge=1, description="intervals over which the lowest latency is kept")
    initial_limit: int = Field(default=100, ge=1)
    min_limit: int = Field(default=1, ge=1)
    max_limit: int = Field(default=10000, ge=1)


class RouterRetries(ScenarioModel):
    """Retries made by the routing layer itself, before the client sees an answer (retries at a second
    layer: with N client retries and M router retries one user request can cost (N+1)(M+1) tries)."""

    max: int = Field(default=1, ge=0)
    on: list[int] = Field(default_factory=lambda: [500, 502, 503], description="server answers retried")


class Router(ScenarioModel):
    """The orchestration layer: picks a cluster able to serve the request, then a server."""

    strategy: str = "random"
    implementation: Literal["builtin", "haproxy", "nginx"] = Field(
        default="builtin",
        description="whose routing semantics: orchsim's router, or HAProxy's / nginx's where they differ "
        "(leastconn ties, random draws, nginx workers without a zone: router.instances)",
    )
    balancer_time_scale: float = Field(
        default=1.0,
        gt=0,
        le=1e6,
        description="simulated seconds per second of the modelled balancer's clock: orchsim validate "
        "--time-scale K runs the real balancer K times faster than the scenario (nginx counts fail_timeout "
        "in whole seconds of its clock); written out only when set",
    )
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
    health_check: HealthCheck | None = Field(default=None, description="null: the router sees crashes at once")
    outlier_ejection: OutlierEjection | None = None
    panic_threshold: float = Field(
        default=0.0, ge=0, le=1, description="below this share of routable servers, route to all of them"
    )
    connect_timeout: PositiveDuration = Field(default=1.0, description="partition: time until a connect fails")
    cross_region_latency: Duration = Field(
        default=0.0, description="added when a request is served outside its class's region (failover, spill-over)"
    )
    adaptive_concurrency: AdaptiveConcurrency | None = Field(default=None, description="per-cluster gradient limit")
    retries: RouterRetries | None = Field(default=None, description="retries by the routing layer itself")

    @model_serializer(mode="wrap")
    def _omit_unset_clock(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Scenarios that never set ``balancer_time_scale`` resolve as they did before it existed."""
        data: dict[str, Any] = handler(self)
        if self.balancer_time_scale == 1.0:
            data.pop("balancer_time_scale", None)
        return data

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, name: str) -> str:
        if name not in STRATEGIES:
            raise ValueError(f"unknown strategy; known: {', '.join(sorted(STRATEGIES))}")
        return name
