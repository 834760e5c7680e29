"""crash: the servers go down (a server is down while any crash holds it); requests held fail with
500 at once, or are lost (clients time out)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.faults.base import FaultKind, MockFault, MockServerState, SimEffect, refresh_clusters, register

if TYPE_CHECKING:
    from sim.engine.attempt import Attempt
    from sim.scenario import Scenario


@register
class Crash(FaultKind):
    name = "crash"

    def balancer_problem(self, scenario: Scenario, implementation: str) -> str | None:
        if scenario.router.health_check is not None:
            return None
        return (
            f"crash without router.health_check: orchsim's router learns of "
            f"crashes at once from service discovery, {implementation} only from health checks"
        )

    def sim_apply(self, effect: SimEffect) -> None:
        lost: list[Attempt] = []
        for server in effect.servers:
            was_up = server.up
            lost.extend(server.crash())
            if was_up:
                effect.healthy.add(-1, effect.kernel.now)
        refresh_clusters(effect.servers)
        code = 500 if effect.fault.in_flight == "fail" else 0  # 0: nobody is told; clients time out
        for attempt in lost:
            effect.finish(attempt, code)

    def sim_lift(self, effect: SimEffect) -> None:
        for server in effect.servers:
            server.recover()
            if server.up:
                effect.healthy.add(1, effect.kernel.now)
        refresh_clusters(effect.servers)

    def mock_apply(self, server: MockServerState, fault: MockFault) -> None:
        server.crash(lost=fault.in_flight == "lost")

    def mock_lift(self, server: MockServerState, fault: MockFault) -> None:
        server.recover()
