"""router_saturation: the routing layer keeps ``factor`` of its capacity (instances x concurrency);
overlapping faults multiply, recomputed from those in force when one ends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.faults.base import FaultKind, MockRouterState, SimEffect, register

if TYPE_CHECKING:
    from sim.scenario import Fault, Scenario


@register
class RouterSaturation(FaultKind):
    name = "router_saturation"
    targets_router = True
    value_field = "factor"

    def fault_problem(self, fault: Fault) -> str | None:
        if fault.factor >= 1:
            return f"factor: router_saturation keeps this share of capacity, below 1 (got {fault.factor:g})"
        return None

    def scenario_problem(self, scenario: Scenario) -> str | None:
        if scenario.router.concurrency is None:
            return "router_saturation needs a finite router.concurrency to cut"
        return None

    def balancer_problem(self, scenario: Scenario, implementation: str) -> str | None:
        return f"router_saturation acts on orchsim's router, not on {implementation}"

    def value_problem(self, value: float) -> str | None:
        if not 0 < value < 1:
            return f"value: router_saturation keeps this share of capacity, in (0, 1) (got {value:g})"
        return None

    def sim_apply(self, effect: SimEffect) -> None:
        effect.router.saturate(effect.fault.factor, active=True)

    def sim_lift(self, effect: SimEffect) -> None:
        effect.router.saturate(effect.fault.factor, active=False)

    def mock_router_apply(self, router: MockRouterState, value: float) -> None:
        router.saturate(value, active=True)

    def mock_router_lift(self, router: MockRouterState, value: float) -> None:
        router.saturate(value, active=False)
