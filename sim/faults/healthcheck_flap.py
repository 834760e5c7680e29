"""healthcheck_flap: a share of the router's health probes fail (the server itself serves); overlapping
faults act as independent failures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.faults.base import FaultKind, MockFault, MockServerState, SimEffect, register

if TYPE_CHECKING:
    from sim.scenario import Scenario


@register
class HealthcheckFlap(FaultKind):
    name = "healthcheck_flap"
    every_server = True

    def scenario_problem(self, scenario: Scenario) -> str | None:
        return "healthcheck_flap needs router.health_check" if scenario.router.health_check is None else None

    def value_problem(self, value: float) -> str | None:
        return None if 0 <= value <= 1 else f"value: healthcheck_flap is a share in [0, 1] (got {value:g})"

    def sim_apply(self, effect: SimEffect) -> None:
        for server in effect.servers:
            server.flap_fractions.append(effect.fault.fraction)

    def sim_lift(self, effect: SimEffect) -> None:
        for server in effect.servers:
            server.flap_fractions.remove(effect.fault.fraction)

    def mock_apply(self, server: MockServerState, fault: MockFault) -> None:
        server.flap_fractions.append(fault.value)

    def mock_lift(self, server: MockServerState, fault: MockFault) -> None:
        server.flap_fractions.remove(fault.value)
