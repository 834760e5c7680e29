"""Router fields: the orchestration layer's strategy, capacity and routing levels."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from sim.scenario.base import Duration, PositiveDuration, ScenarioModel
from sim.strategies import STRATEGIES

__all__ = ["Router"]


class Router(ScenarioModel):
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
