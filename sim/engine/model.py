"""The whole model: wires clients, router, clusters, faults and monitors, runs it, returns records."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from sim.engine.client import Clients
from sim.engine.cluster import Cluster
from sim.engine.faults import start_faults
from sim.engine.kernel import Attempt, Gauge, Kernel
from sim.engine.records import AttemptLog, SimResult
from sim.engine.router import Router
from sim.intervals import open_count_means
from sim.rng import Draws, stream
from sim.scenario import Scenario
from sim.workload import Trace, generate_trace

__all__ = ["Simulation", "simulate"]

ProgressFn = Callable[[float, float], None]


class Simulation:
    """One run of one scenario and seed. ``run()`` returns a ``SimResult``; nothing is printed."""

    def __init__(self, scenario: Scenario, seed: int | None = None, trace: Trace | None = None) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.trace = generate_trace(scenario, self.seed) if trace is None else trace
        self.kernel = Kernel()
        self.log = AttemptLog()
        self.clusters = self._build_clusters()
        self.healthy = Gauge(sum(len(c.servers) for c in self.clusters))
        self.router = Router(
            self.kernel,
            scenario.router,
            self._candidates(),
            self.trace.class_regions,
            Draws(stream(self.seed, "cluster-choice")),
            self._server_done,
        )
        self.clients = Clients(
            self.kernel,
            scenario.clients,
            self.trace,
            Draws(stream(self.seed, "clients")),
            self.router.submit,
            self.router.release,
            self._cancel,
            self.log,
        )
        self.healthy_rows: list[float] = []

    def _build_clusters(self) -> list[Cluster]:
        clusters, first = [], 0
        for index, spec in enumerate(self.scenario.clusters):
            clusters.append(
                Cluster(self.kernel, spec, self.scenario.router, index, first, self.seed, self._server_done)
            )
            first += spec.servers
        return clusters

    def _candidates(self) -> list[list[Cluster]]:
        return [
            [c for c in self.clusters if model is None or c.spec.models is None or model in c.spec.models]
            for model in self.trace.class_models
        ]

    def _server_done(self, attempt: Attempt, code: int) -> None:
        attempt.server_done = True
        attempt.server_end_s = self.kernel.env._now
        if not attempt.client_done and code != 0:
            self.clients.answer(attempt, code)
        elif attempt.client_done:
            self.clients.record(attempt)

    def _cancel(self, attempt: Attempt) -> None:
        if attempt.cluster >= 0:
            self.clusters[attempt.cluster].cancel(attempt)

    def _monitor(self) -> Generator[Any, Any, None]:
        """Healthy servers, time-averaged per window (the other gauges come from the records)."""
        env, window, duration = self.kernel.env, self.scenario.window, self.scenario.duration
        start = 0.0
        while start < duration:
            end = min(start + window, duration)
            yield env.timeout(end - start)
            self.healthy_rows.append(self.healthy.take_area(end) / (end - start))
            start = end

    def run(self, progress: ProgressFn | None = None, steps: int = 100) -> SimResult:
        """Simulate until duration + drain; ``progress(now_s, end_s)`` is called ``steps`` times."""
        started = time.perf_counter()
        start_faults(self.kernel, list(self.scenario.faults), self.clusters, self.seed, self.healthy, self._server_done)
        self.clients.start()
        self.kernel.env.process(self._monitor())
        for cluster in self.clusters:
            self.kernel.env.process(cluster.reporting())
        end_s = self.scenario.duration + self.scenario.drain
        collecting = gc.isenabled()
        gc.disable()  # millions of short-lived acyclic objects: reference counting frees them all
        try:
            for step in range(1, steps + 1):
                until = end_s * step / steps
                self.kernel.env.run(until=until)
                if progress is not None:
                    progress(until, end_s)
        finally:
            if collecting:
                gc.enable()
        result = self._result(end_s)
        result.wall_s = time.perf_counter() - started
        return result

    def _result(self, end_s: float) -> SimResult:
        for attempt in list(self.clients.unlogged):
            self.log.append(attempt)  # still in flight at the end: code 0 unless the client had its answer
        clients = self.clients
        attempts = self.log.to_numpy()
        return SimResult(
            scenario=self.scenario,
            seed=self.seed,
            arrival_s=self.trace.arrival_s,
            klass=self.trace.klass,
            req_code=np.array(clients.code, dtype=np.int32),
            req_end_s=np.array(clients.end_s, dtype=np.float64),
            req_attempts=np.array(clients.attempts, dtype=np.int32),
            attempts=attempts,
            windows=self._windows(attempts, end_s),
            end_s=end_s,
            events=self.kernel.count_events(),
        )

    def _windows(self, a: dict[str, np.ndarray], end_s: float) -> dict[str, np.ndarray]:
        """Per-window time averages of busy slots, queued attempts, router slots held, healthy servers.

        An attempt holds a router slot over [sent, client end), waits in a queue over
        [sent + router overhead, service start or server end), and holds a slot over
        [service start, server end); anything still open at the end is open until ``end_s``.
        """
        sc = self.scenario
        starts = np.arange(len(self.healthy_rows)) * sc.window
        edges = np.append(starts, sc.duration)
        server_end = np.nan_to_num(a["server_end_s"], nan=end_s)
        served = ~np.isnan(a["start_s"])
        queue_out = np.where(served, a["start_s"], server_end)
        return {
            "start_s": starts,
            "busy_slots": open_count_means(a["start_s"][served], server_end[served], edges),
            "queue_depth": open_count_means(a["sent_s"] + sc.router.overhead, queue_out, edges),
            "router_in_flight": open_count_means(a["sent_s"], np.nan_to_num(a["end_s"], nan=end_s), edges),
            "healthy_servers": np.array(self.healthy_rows),
        }


def simulate(scenario: Scenario, seed: int | None = None, progress: ProgressFn | None = None) -> SimResult:
    """Run ``scenario`` once with ``seed`` (default: the scenario's seed)."""
    return Simulation(scenario, seed).run(progress)
