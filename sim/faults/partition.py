"""partition: the router cannot reach a cluster (requests hang until every partition on it ends)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.faults.base import FaultKind, MockFault, MockServerState, SimEffect, register

if TYPE_CHECKING:
    from sim.scenario import Scenario


@register
class Partition(FaultKind):
    name = "partition"
    whole_cluster = True
    every_server = True

    def mock_problem(self, scenario: Scenario) -> str | None:
        return (
            "partition: the mock's servers hold a request until the partition ends; the simulator's router "
            "gives up after router.connect_timeout (503)"
        )

    def sim_apply(self, effect: SimEffect) -> None:
        effect.servers[0].cluster.partitioned += 1

    def sim_lift(self, effect: SimEffect) -> None:
        effect.servers[0].cluster.partitioned -= 1

    def mock_apply(self, server: MockServerState, fault: MockFault) -> None:
        server.partitions += 1

    def mock_lift(self, server: MockServerState, fault: MockFault) -> None:
        server.partitions -= 1
