"""unavailable: the mock server answers 503 to everything (a runtime injection only; no scenario
kind, no simulator effect)."""

from __future__ import annotations

from sim.faults.base import FaultKind, MockFault, MockServerState, register


@register
class Unavailable(FaultKind):
    name = "unavailable"
    in_scenarios = False

    def mock_apply(self, server: MockServerState, fault: MockFault) -> None:
        server.unavailables += 1

    def mock_lift(self, server: MockServerState, fault: MockFault) -> None:
        server.unavailables -= 1
