"""Detection in the mock router: when to probe, how, and when an ejection ends (scaled real time).

What a probe result or an error answer decides is the control plane's (``sim.control.health``,
``sim.control.outlier``), shared with the simulator; this module only does the I/O and the timing.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import aiohttp

from loadtest.mock.routed import BackendView, RoutedCluster
from sim.control.health import HealthPolicy
from sim.control.outlier import OutlierEjection
from sim.scenario import HealthCheck
from sim.scenario import OutlierEjection as OutlierEjectionSpec

__all__ = ["HealthChecks", "outlier_ejection"]


class HealthChecks:
    """Probes every backend server each interval, as the scenario configures them; consecutive
    results flip the router's view. A probe fails when the server does not answer 200 in time:
    down (refused), partitioned, loaded past the timeout, or failed by a healthcheck_flap fault."""

    def __init__(
        self, spec: HealthCheck, time_scale: float, clusters: list[RoutedCluster], session: aiohttp.ClientSession
    ) -> None:
        self.spec, self.time_scale, self.clusters, self.session = spec, time_scale, clusters, session
        self.policy = HealthPolicy(spec)
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
            self.policy.reset(view)
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
                self.policy.record(view, ok)

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


def outlier_ejection(
    spec: OutlierEjectionSpec, cluster: RoutedCluster, time_scale: float
) -> OutlierEjection[BackendView]:
    """The cluster's outlier ejection, its ejections ended on the running event loop (scaled time).
    Its cap counts the cluster's ``max_servers``, as the simulator's does."""

    def eject(view: BackendView, hold_s: float) -> None:
        asyncio.get_running_loop().call_later(hold_s / time_scale, ejection.restore, view)

    ejection: OutlierEjection[BackendView] = OutlierEjection(spec, cluster.spec.max_servers, eject)
    return ejection
