"""The ``reference:`` section: what a public account reported, figure by figure, with its source.

``orchsim run`` prints these beside the simulated incident day and the baseline. The figures are
text exactly as reported ("99.1%", "47+"): the simulator compares, it does not parse the report.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sim.scenario.base import ScenarioModel

__all__ = ["METRICS", "Reference", "ReferenceEvent", "ReferenceFigure"]

Metric = Literal["uptime", "outage_reports", "error_codes", "report_spike", "time_to_resolve", "status_page_lag"]
METRICS: tuple[str, ...] = Metric.__args__  # type: ignore[attr-defined]


class ReferenceFigure(ScenarioModel):
    """One reported figure: for the incident day and (optionally) an ordinary day."""

    metric: Metric = Field(description="which simulated figure it is compared with")
    incident: str = Field(min_length=1, description="as reported for the incident day")
    baseline: str | None = Field(default=None, description="as reported for an ordinary day, if given")
    source: str = Field(min_length=1, description="where the figure comes from")


class ReferenceEvent(ScenarioModel):
    """One line of the reported narrative and the simulated event that answers it."""

    reported: str = Field(min_length=1, description="the account's words")
    event: Literal["trigger", "report_spike", "users_failing", "page_operational", "page_investigating", "resolved"]


class Reference(ScenarioModel):
    """A public account of the incident the scenario reconstructs."""

    source: str = Field(min_length=1, description="the account (title, publisher, date)")
    incident_label: str = Field(default="incident day (reported)", description="column heading")
    baseline_label: str = Field(default="ordinary day (reported)", description="column heading")
    figures: list[ReferenceFigure] = Field(min_length=1)
    narrative: list[ReferenceEvent] = Field(default_factory=list, description="the account's timeline, in order")

    @model_validator(mode="after")
    def _one_figure_per_metric(self) -> Reference:
        metrics = [f.metric for f in self.figures]
        repeated = sorted({m for m in metrics if metrics.count(m) > 1})
        if repeated:
            raise ValueError(f"figures: one figure per metric (repeated: {', '.join(repeated)})")
        return self
