"""Detection in the mock router: active health checks and passive outlier ejection (scaled time)."""

from __future__ import annotations

import asyncio
import itertools
import time

import aiohttp

from loadtest.mock.routed import BackendView, RoutedCluster
from sim.scenario import HealthCheck, OutlierEjection

__all__ = ["HealthChecks", "Outliers"]


class HealthChecks:
    """Probes every backend server each interval, as the scenario configures them; consecutive
    results flip the router's view. A probe fails when the server does not answer 200 in time:
    down (refused), partitioned, loaded past the timeout, or failed by a healthcheck_flap fault."""

    def __init__(
        self, spec: HealthCheck, time_scale: float, clusters: list[RoutedCluster], session: aiohttp.ClientSession
    ) -> None:
        self.spec, self.time_scale, self.clusters, self.session = spec, time_scale, clusters, session
        self.task: asyncio.Task[None] | None = None

    def start(self, epoch_monotonic_s: float | None = None) -> None:
        """Probe at epoch + k x interval (scaled), k = 1, 2, ...: the simulator's schedule from the
        start of its run. Called again (``POST /admin/clock``) it restarts that clock, with every
        server healthy and no probe counted, so a load generator can put the probes on its own time
        axis, where it plays the faults. ``epoch_monotonic_s``: the clock's zero on the
        ``time.monotonic()`` clock every process shares (a load generator's time zero); None: now."""
        if self.task is not None:
            self.task.cancel()
        for view in (v for c in self.clusters for v in c.views):  # as at a simulated run's start
            view.healthy, view.probe_failures, view.probe_successes = True, 0, 0
        epoch = time.monotonic() if epoch_monotonic_s is None else epoch_monotonic_s
        self.task = asyncio.get_running_loop().create_task(self.run(epoch))

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def run(self, epoch_monotonic_s: float) -> None:
        views = [v for c in self.clusters for v in c.views]
        period = self.spec.interval / self.time_scale
        for k in itertools.count(1):
            # to each probe's due time, not a fixed gap: probing takes time, which must not add up;
            # on time.monotonic(), the clock of the epoch and the faults (uvloop's counts whole ms)
            await asyncio.sleep(max(0.0, epoch_monotonic_s + k * period - time.monotonic()))
            results = await asyncio.gather(*(self._probe(v) for v in views))
            for view, ok in zip(views, results, strict=True):
                self._count(view, ok)

    async def _probe(self, view: BackendView) -> bool:
        if not view.url:
            return False  # not discovered yet: unreachable
        timeout = aiohttp.ClientTimeout(total=self.spec.timeout / self.time_scale)
        try:
            async with self.session.get(f"{view.url}/health", timeout=timeout) as response:
                await response.read()
                return response.status == 200
        except (TimeoutError, aiohttp.ClientError):
            return False

    def _count(self, view: BackendView, ok: bool) -> None:
        if ok:
            view.probe_failures, view.probe_successes = 0, view.probe_successes + 1
            if not view.healthy and view.probe_successes >= self.spec.healthy_threshold:
                view.healthy = True
        else:
            view.probe_successes, view.probe_failures = 0, view.probe_failures + 1
            if view.healthy and view.probe_failures >= self.spec.unhealthy_threshold:
                view.healthy = False


class Outliers:
    """Passive outlier ejection: consecutive 5xx answers eject a server for base x ejections (scaled)."""

    def __init__(self, spec: OutlierEjection, time_scale: float) -> None:
        self.spec, self.time_scale = spec, time_scale

    def observe(self, cluster: RoutedCluster, view: BackendView, status: int) -> None:
        if status < 500:
            view.consecutive_5xx = 0
            return
        view.consecutive_5xx += 1
        now = time.monotonic()
        ejected = sum(v.ejected_until > now for v in cluster.views)
        cap = max(1, int(self.spec.max_ejected_fraction * len(cluster.views)))
        if view.consecutive_5xx >= self.spec.consecutive_5xx and view.ejected_until <= now and ejected < cap:
            view.ejections += 1
            view.ejected_until = now + self.spec.base_ejection * view.ejections / self.time_scale
            view.consecutive_5xx = 0
