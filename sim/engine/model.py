"""The whole model: wires clients, router, clusters, faults and monitors, runs it, returns records."""

from __future__ import annotations

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
from sim.rng import Draws, stream
from sim.scenario import Scenario
from sim.strategies import make_strategy
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
        self.unlogged: dict[Attempt, None] = {}
        self.busy, self.queued = Gauge(), Gauge()
        self.router_gauge = Gauge()
        self.clusters = self._build_clusters()
        self.healthy = Gauge(sum(len(c.servers) for c in self.clusters))
        self.router = Router(
            self.kernel,
            scenario.router,
            self._candidates(),
            Draws(stream(self.seed, "cluster-choice")),
            self._server_done,
            self.router_gauge,
        )
        self.clients = Clients(
            self.kernel,
            scenario.clients,
            self.trace,
            Draws(stream(self.seed, "clients")),
            self._submit,
            self.router.release,
            self._cancel,
            self._log,
        )
        self.window_rows: dict[str, list[float]] = {
            "queue_depth": [],
            "busy_slots": [],
            "healthy_servers": [],
            "router_in_flight": [],
        }

    def _build_clusters(self) -> list[Cluster]:
        clusters, first = [], 0
        for index, spec in enumerate(self.scenario.clusters):
            clusters.append(
                Cluster(
                    self.kernel,
                    spec,
                    index,
                    first,
                    make_strategy(self.scenario.router.strategy),
                    self.seed,
                    self.trace.class_work,
                    (self.busy, self.queued),
                    self._server_done,
                    self.scenario.router.queue_limit,
                )
            )
            first += spec.servers
        return clusters

    def _candidates(self) -> list[list[Cluster]]:
        return [
            [c for c in self.clusters if model is None or c.spec.models is None or model in c.spec.models]
            for model in self.trace.class_models
        ]

    def _submit(self, attempt: Attempt) -> None:
        self.unlogged[attempt] = None
        self.router.submit(attempt)

    def _server_done(self, attempt: Attempt, code: int) -> None:
        attempt.server_done = True
        attempt.server_end_s = self.kernel.now
        if not attempt.client_done and code != 0:
            self.clients.answer(attempt, code)
        elif attempt.client_done:
            self._log(attempt)

    def _cancel(self, attempt: Attempt) -> None:
        if attempt.cluster >= 0:
            self.clusters[attempt.cluster].cancel(attempt)

    def _log(self, attempt: Attempt) -> None:
        del self.unlogged[attempt]
        self.log.append(attempt)

    def _monitor(self) -> Generator[Any, Any, None]:
        env, window, duration = self.kernel.env, self.scenario.window, self.scenario.duration
        start = 0.0
        while start < duration:
            end = min(start + window, duration)
            yield env.timeout(end - start)
            length = end - start
            rows = self.window_rows
            rows["queue_depth"].append(self.queued.take_area(end) / length)
            rows["busy_slots"].append(self.busy.take_area(end) / length)
            rows["healthy_servers"].append(self.healthy.take_area(end) / length)
            rows["router_in_flight"].append(self.router_gauge.take_area(end) / length)
            start = end

    def run(self, progress: ProgressFn | None = None, steps: int = 100) -> SimResult:
        """Simulate until duration + drain; ``progress(now_s, end_s)`` is called ``steps`` times."""
        started = time.perf_counter()
        start_faults(self.kernel, list(self.scenario.faults), self.clusters, self.seed, self.healthy, self._server_done)
        self.clients.start()
        self.kernel.env.process(self._monitor())
        end_s = self.scenario.duration + self.scenario.drain
        for step in range(1, steps + 1):
            until = end_s * step / steps
            self.kernel.env.run(until=until)
            if progress is not None:
                progress(until, end_s)
        return self._result(end_s, time.perf_counter() - started)

    def _result(self, end_s: float, wall_s: float) -> SimResult:
        for attempt in list(self.unlogged):
            self.log.append(attempt)  # still in flight at the end: code 0 unless the client had its answer
        clients = self.clients
        windows = {name: np.array(values) for name, values in self.window_rows.items()}
        n_windows = len(windows["queue_depth"])
        windows["start_s"] = np.arange(n_windows) * self.scenario.window
        return SimResult(
            scenario=self.scenario,
            seed=self.seed,
            arrival_s=self.trace.arrival_s,
            klass=self.trace.klass,
            req_code=np.array(clients.code, dtype=np.int32),
            req_end_s=np.array(clients.end_s, dtype=np.float64),
            req_attempts=np.array(clients.attempts, dtype=np.int32),
            attempts=self.log.to_numpy(),
            windows=windows,
            end_s=end_s,
            events=self.kernel.events,
            wall_s=wall_s,
        )


def simulate(scenario: Scenario, seed: int | None = None, progress: ProgressFn | None = None) -> SimResult:
    """Run ``scenario`` once with ``seed`` (default: the scenario's seed)."""
    return Simulation(scenario, seed).run(progress)


def total_slots(scenario: Scenario) -> int:
    """Configured slots over every cluster."""
    return sum(c.servers * c.slots for c in scenario.clusters)
