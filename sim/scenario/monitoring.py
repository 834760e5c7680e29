"""Monitoring fields: status-page observers, user outage reports, cost of downtime, timeline notes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sim.scenario.base import Duration, PositiveDuration, ScenarioModel

__all__ = ["Annotation", "Cost", "Monitoring", "Observer", "OutageReports", "StatusPage"]


class Observer(ScenarioModel):
    """Rules over time-series windows that raise and clear a status; a human may post it later.

    A window's level is the highest whose error rate threshold it reaches (failed / answered in the
    window; a window with requests but no answer counts as major). The level is confirmed once it
    held for ``confirm`` consecutive windows, cleared after ``clear`` windows at operational.
    """

    degraded_error_rate: float = Field(default=0.02, gt=0, le=1, description="error rate for 'degraded'")
    partial_error_rate: float = Field(default=0.10, gt=0, le=1, description="error rate for 'partial_outage'")
    major_error_rate: float = Field(default=0.40, gt=0, le=1, description="error rate for 'major_outage'")
    latency_p95: PositiveDuration | None = Field(
        default=None, description="a window whose p95 latency of successes exceeds this is at least 'degraded'"
    )
    confirm: int = Field(default=1, ge=1, description="consecutive windows a level must hold before it is raised")
    clear: int = Field(default=2, ge=1, description="consecutive operational windows before 'resolved'")
    acknowledge: Duration = Field(
        default=0.0, description="human delay from detection to posting 'investigating' (0 = automatic)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Observer:
        if not self.degraded_error_rate <= self.partial_error_rate <= self.major_error_rate:
            raise ValueError(
                "error rates must rise from degraded to partial to major "
                f"(got {self.degraded_error_rate:g}, {self.partial_error_rate:g}, {self.major_error_rate:g})"
            )
        return self


class StatusPage(Observer):
    """The official status page: humans confirm over several windows and post after a delay."""

    degraded_error_rate: float = Field(default=0.05, gt=0, le=1, description="error rate for 'degraded'")
    partial_error_rate: float = Field(default=0.15, gt=0, le=1, description="error rate for 'partial_outage'")
    major_error_rate: float = Field(default=0.5, gt=0, le=1, description="error rate for 'major_outage'")
    confirm: int = Field(default=3, ge=1, description="consecutive windows a level must hold before it is raised")
    clear: int = Field(default=5, ge=1, description="consecutive operational windows before 'resolved'")
    acknowledge: Duration = Field(default=900.0, description="human delay from detection to posting 'investigating'")


class OutageReports(ScenarioModel):
    """Users who see ``failures`` or more failures within one window report with ``probability``.

    Binomial model per window: users = answered requests / ``requests_per_user``; a user's
    failures ~ Binomial(requests_per_user, window error rate); reporters ~ Binomial(users x scale,
    P(failures >= k) x probability); plus Poisson background reports.
    """

    requests_per_user: int = Field(default=4, ge=1, description="requests one active user sends in a window")
    failures: int = Field(default=2, ge=1, description="k: failures within a window before a user may report")
    probability: float = Field(default=0.05, ge=0, le=1, description="chance that such a user reports")
    scale: float = Field(default=1.0, gt=0, description="real users each simulated user stands for")
    background_per_day: float = Field(default=0.0, ge=0, description="reports on a normal day (Poisson)")

    @model_validator(mode="after")
    def _reachable(self) -> OutageReports:
        if self.failures > self.requests_per_user:
            raise ValueError(
                f"failures: must be at most requests_per_user ({self.requests_per_user}) (got {self.failures})"
            )
        return self


class Cost(ScenarioModel):
    """Dollars lost: failed and late requests, and minutes dependent pipelines cannot run."""

    failed_request_usd: float = Field(default=0.01, ge=0, description="per failed user request")
    late_request_usd: float = Field(default=0.002, ge=0, description="per success slower than slo.latency")
    pipeline_minute_usd: float = Field(
        default=50.0, ge=0, description="per minute the service is not up (windows below slo.availability)"
    )


class Annotation(ScenarioModel):
    """A moment to show on the incident timeline (a mitigation, a deploy, a note)."""

    at: Duration
    kind: Literal["trigger", "mitigation", "note"] = "note"
    label: str = Field(min_length=1)


class Monitoring(ScenarioModel):
    """Who watches the service and what an outage costs; every scenario gets the defaults."""

    monitor: Observer = Field(default_factory=Observer, description="independent monitor: fast, automatic")
    status_page: StatusPage = Field(default_factory=StatusPage, description="official status page: slower, human")
    outage_reports: OutageReports = Field(default_factory=OutageReports)
    cost: Cost = Field(default_factory=Cost)
    annotations: list[Annotation] = Field(default_factory=list, description="extra events on the timeline")
