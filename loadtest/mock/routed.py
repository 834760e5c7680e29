"""The router's view of the backends: one entry per server, kept current by service discovery.

Each backend process streams where its servers listen and, the moment it happens, when one goes
down, comes back or is drained (``GET /watch``). As in the simulator, a drained server gets no new
requests, and without health checks the router sees crashes at once; with them it goes by the
probes' verdict.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from sim.rng import Draws, Stream, stream
from sim.scenario import Scenario
from sim.strategies import Strategy, make_strategy

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
    healthy: bool = True  # the router's view from its health checks
    probe_failures: int = 0
    probe_successes: int = 0
    consecutive_5xx: int = 0
    ejected_until: float = 0.0
    ejections: int = 0


@dataclass
class RoutedCluster:
    name: str
    url: str  # the backend process (discovery, admin)
    models: list[str] | None
    views: list[BackendView]
    strategy: Strategy
    draws: Draws
    slots: int = field(default=0)

    @property
    def discovered(self) -> bool:
        """True once every server's address is known."""
        return all(v.url for v in self.views)

    def usable(self, panic_threshold: float, checked: bool) -> list[BackendView]:
        """Servers not drained that are up (``checked``: that pass their health checks) and not ejected;
        every server not drained below the panic threshold (the simulator's refresh_routable)."""
        now = time.monotonic()
        candidates = [v for v in self.views if not v.drained]
        usable = [v for v in candidates if (v.healthy if checked else v.up) and v.ejected_until <= now]
        if candidates and len(usable) < panic_threshold * len(candidates):
            return candidates
        return usable

    def choose(self, request: Any, views: list[BackendView]) -> BackendView:
        if self.strategy.central:  # the mock has no router queue: least in flight, as free as it gets
            return min(views, key=lambda v: (v.in_flight, v.index))
        return views[self.strategy.choose(views, request, self.draws)]

    def learn(self, state: dict[str, Any]) -> None:
        """One line of discovery: a server's port and state."""
        view = self.views[int(state["index"])]
        view.url = f"http://127.0.0.1:{int(state['port'])}"
        view.up, view.drained = bool(state["up"]), bool(state["drained"])


def routed_clusters(scenario: Scenario, urls: list[str]) -> list[RoutedCluster]:
    """One entry per cluster, its strategy built as the simulator builds it."""
    out = []
    for i, (spec, url) in enumerate(zip(scenario.clusters, urls, strict=True)):
        views = [BackendView(index=k, slots=spec.slots) for k in range(spec.servers)]
        name, params = (
            (scenario.router.strategy, scenario.router.params)
            if spec.strategy is None
            else (spec.strategy, spec.params or {})
        )
        draws = Draws(stream(scenario.seed, Stream.ROUTING, i))
        strategy = make_strategy(name, params, views, draws)
        out.append(RoutedCluster(spec.name, url, spec.models, views, strategy, draws, spec.servers * spec.slots))
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
