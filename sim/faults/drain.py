"""drain: retire servers one by one, evenly over the window (the first at its start, the last at its
end); they stay retired (a drain is permanent)."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from sim.faults.base import FaultKind, MockFault, MockServerState, SimEffect, register

if TYPE_CHECKING:
    from sim.scenario import Scenario


@register
class Drain(FaultKind):
    name = "drain"
    whole_cluster = True
    permanent = True
    keeps_draw_order = True  # the servers retire in the order drawn

    def balancer_problem(self, scenario: Scenario, implementation: str) -> str | None:
        return f"drain is told to orchsim's router by service discovery; {implementation} is not"

    def sim_process(self, effect: SimEffect, begin: Any) -> Generator[Any, Any, None]:
        yield begin
        fault, servers = effect.fault, effect.servers
        step_s = (fault.end_s - fault.at) / max(1, len(servers) - 1)
        for k, server in enumerate(servers):
            yield effect.kernel.env.timeout(step_s if k else 0.0)
            server.drained = True
            server.cluster.refresh_routable()

    def mock_apply(self, server: MockServerState, fault: MockFault) -> None:
        server.drain()

    def mock_lift(self, server: MockServerState, fault: MockFault) -> None:
        """Never lifted: a drained server stays retired (its injections have no duration)."""
