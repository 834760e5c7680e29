"""error_rate: a share of requests answered 500 after ``error_latency``, drawn when their service would
start (they hold the slot meanwhile); overlapping faults act as independent failures
(``sim.control.faults.error_latency_s``). A mock injection carries its latency (``error_latency_s``, real
seconds; a scenario's ``error_latency`` divided by the time scale), kept in scenario seconds as here."""

from __future__ import annotations

from sim.faults.base import FaultKind, MockFault, MockServerState, SimEffect, register


@register
class ErrorRate(FaultKind):
    name = "error_rate"
    every_server = True

    def value_problem(self, value: float) -> str | None:
        return None if 0 <= value <= 1 else f"value: error_rate is a share in [0, 1] (got {value:g})"

    def sim_apply(self, effect: SimEffect) -> None:
        for server in effect.servers:
            server.error_fractions.append((effect.fault.fraction, effect.fault.error_latency))

    def sim_lift(self, effect: SimEffect) -> None:
        for server in effect.servers:
            server.error_fractions.remove((effect.fault.fraction, effect.fault.error_latency))

    def mock_apply(self, server: MockServerState, fault: MockFault) -> None:
        server.error_fractions.append(_mock_entry(server, fault))

    def mock_lift(self, server: MockServerState, fault: MockFault) -> None:
        server.error_fractions.remove(_mock_entry(server, fault))


def _mock_entry(server: MockServerState, fault: MockFault) -> tuple[float, float]:
    """The mock server's error entry: (share, error latency in scenario seconds, as the simulator's)."""
    return fault.value, fault.error_latency_s * server.time_scale
