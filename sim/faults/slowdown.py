"""slowdown: service times multiplied by ``factor``; overlapping slowdowns multiply, and the factor is
recomputed from those still in force when one ends (never divided back)."""

from __future__ import annotations

from sim.control.faults import add_slowdown, lift_slowdown
from sim.faults.base import FaultKind, MockFault, MockServerState, SimEffect, register
from sim.inputs.safe_input import MAX_FACTOR


@register
class Slowdown(FaultKind):
    name = "slowdown"
    value_field = "factor"

    def value_problem(self, value: float) -> str | None:
        if not 0 < value <= MAX_FACTOR:
            return f"value: slowdown is a factor in (0, {MAX_FACTOR:g}] (got {value:g})"
        return None

    def sim_apply(self, effect: SimEffect) -> None:
        for server in effect.servers:
            add_slowdown(server, effect.fault.factor)

    def sim_lift(self, effect: SimEffect) -> None:
        for server in effect.servers:
            lift_slowdown(server, effect.fault.factor)

    def mock_apply(self, server: MockServerState, fault: MockFault) -> None:
        add_slowdown(server, fault.value)

    def mock_lift(self, server: MockServerState, fault: MockFault) -> None:
        lift_slowdown(server, fault.value)
