"""partition: the router cannot reach a cluster (requests hang until every partition on it ends)."""

from __future__ import annotations

from sim.faults.base import FaultKind, MockFault, MockServerState, SimEffect, register


@register
class Partition(FaultKind):
    name = "partition"
    whole_cluster = True
    every_server = True

    def sim_apply(self, effect: SimEffect) -> None:
        effect.servers[0].cluster.partitioned += 1

    def sim_lift(self, effect: SimEffect) -> None:
        effect.servers[0].cluster.partitioned -= 1

    def mock_apply(self, server: MockServerState, fault: MockFault) -> None:
        server.partitions += 1

    def mock_lift(self, server: MockServerState, fault: MockFault) -> None:
        server.partitions -= 1
