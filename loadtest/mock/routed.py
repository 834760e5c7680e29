"""The router's view of the backends: one entry per server, kept current by service discovery.

Each backend process streams where its servers listen and, the moment it happens, when one goes
down, comes back or is drained (``GET /watch``). Which servers are routable, which strategy picks
among them and which cluster a request goes to are the control plane's (``sim.control``), as in the
simulator: a drained server gets no new requests, and without health checks the router sees crashes
at once; with them it goes by the probes' verdict.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from sim.control.outlier import OutlierEjection
from sim.control.routing import build_strategy, routable
from sim.rng import Draws, Stream, stream
from sim.scenario import Cluster as ClusterSpec
from sim.scenario import Scenario
from sim.strategies import Strategy

__all__ = ["BackendView", "RoutedCluster", "routed_clusters", "watch"]


@dataclass
class BackendView:
    """What a strategy reads of one backend server: the router's own live counts."""

    index: int
    slots: int
    busy: int = 0
    queued: int = 0
    in_flight: int = 0
    work_in_flight: float = 0.0
    tokens_in_flight: int = 0
    prefix_sessions: frozenset[int] = frozenset()  # the mock keeps no prefix cache
    url: str = ""  # where the server listens ("" until discovered)
    up: bool = True  # what discovery says: not crashed
    drained: bool = False
    provisioned: bool = True  # the mock has no autoscaler: every server is in service
    probed_healthy: bool = True  # the router's view from its health checks
    probe_failures: int = 0
    probe_successes: int = 0
    consecutive_5xx: int = 0
    ejected: bool = False
    ejections: int = 0


@dataclass
class RoutedCluster:
    spec: ClusterSpec
    url: str  # the backend process (discovery, admin)
    views: list[BackendView]
    strategy: Strategy
    draws: Draws
    checked: bool  # health checks decide (else discovery's up/down)
    panic_threshold: float
    passive: bool = False  # the strategy skips the servers it saw fail (nginx's passive health)
    outliers: OutlierEjection[BackendView] | None = None  # set by the router, which schedules ejections

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def discovered(self) -> bool:
        """True once every server's address is known."""
        return all(v.url for v in self.views)

    @property
    def routable(self) -> list[BackendView]:
        """The servers the router sends to now (``sim.control.routing.routable``, the panic rule included)."""
        return routable(self.views, self.checked, self.panic_threshold, self.passive)

    @property
    def routable_slots(self) -> int:
        """Slots of the routable servers."""
        return sum(v.slots for v in self.routable)

    @property
    def load(self) -> int:
        """Requests the router has in flight in this cluster."""
        return sum(v.in_flight for v in self.views)

    def choose(self, request: Any, views: list[BackendView]) -> BackendView:
        if self.strategy.central:  # the mock has no router queue: least in flight, as free as it gets
            return min(views, key=lambda v: (v.in_flight, v.index))
        return views[self.strategy.choose(views, request, self.draws)]

    def learn(self, state: dict[str, Any]) -> None:
        """One line of discovery: a server's port and state."""
        view = self.views[int(state["index"])]
        view.url = f"http://127.0.0.1:{int(state['port'])}"
        view.up, view.drained = bool(state["up"]), bool(state["drained"])


def routed_clusters(scenario: Scenario, urls: list[str], time_scale: float = 1.0) -> list[RoutedCluster]:
    """One entry per cluster, its strategy built as the simulator builds it (``time_scale``: its
    clock runs in scenario seconds)."""
    out = []
    router = scenario.router
    for i, (spec, url) in enumerate(zip(scenario.clusters, urls, strict=True)):
        views = [BackendView(index=k, slots=spec.slots) for k in range(spec.servers)]
        draws = Draws(stream(scenario.seed, Stream.ROUTING, i))
        strategy = build_strategy(router, spec, views, draws, lambda: time.monotonic() * time_scale)
        passive = bool(getattr(strategy, "passive_health", False))  # nginx's: no probes, no ejection
        checked = router.health_check is not None and not passive
        out.append(RoutedCluster(spec, url, views, strategy, draws, checked, router.panic_threshold, passive))
    return out


async def watch(cluster: RoutedCluster, session: aiohttp.ClientSession) -> None:
    """Follow the backend's ``GET /watch`` for as long as the router runs, reconnecting if it breaks."""
    while True:
        try:
            forever = aiohttp.ClientTimeout(total=None)
            async with session.get(f"{cluster.url}/watch", timeout=forever) as response:
                async for line in response.content:
                    cluster.learn(json.loads(line))
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, IndexError):
            pass
        await asyncio.sleep(0.05)
