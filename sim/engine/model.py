"""The whole model: wires clients, router, clusters, faults and monitors, runs it, returns records."""

from __future__ import annotations

import gc
import itertools
import math
import time
from array import array
from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from sim.engine.autoscale import Autoscaler
from sim.engine.client import Clients
from sim.engine.cluster import Cluster
from sim.engine.faults import start_faults
from sim.engine.intervals import open_count_means
from sim.engine.kernel import Gauge, Kernel
from sim.engine.llm_server import LlmServer
from sim.engine.records import AttemptLog, SimResult
from sim.engine.router import Router
from sim.rng import Draws, Stream, stream
from sim.scenario import Scenario
from sim.workload.trace import Trace, generate_trace

__all__ = ["Simulation", "simulate"]

ProgressFn = Callable[[float, float], None]


class Simulation:
    """One run of one scenario and seed. ``run()`` returns a ``SimResult``; nothing is printed."""

    def __init__(self, scenario: Scenario, seed: int | None = None, trace: Trace | None = None) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        trace = generate_trace(scenario, self.seed) if trace is None else trace
        # the clients copy the per-request columns; the model keeps only the class tables
        self.class_names, self.class_models = trace.class_names, trace.class_models
        self.kernel = Kernel()
        self.log = AttemptLog()
        # built in the order of the answers' path: the router, its clusters (which answer to it), the
        # router routed to them, the clients (which submit to it), the router answering them
        self.router = Router(
            self.kernel, scenario.router, trace.class_regions, Draws(stream(self.seed, Stream.CLUSTER_CHOICE)), self.log
        )
        self.clusters = self._build_clusters()
        total = sum(c.spec.servers for c in self.clusters)  # the autoscaler's spare room is not counted
        self.gauges = {"healthy_servers": Gauge(total), "routable_servers": Gauge(total), "ejected_servers": Gauge()}
        self.llm_servers = [s for c in self.clusters for s in c.servers if isinstance(s, LlmServer)]
        if self.llm_servers:
            self.gauges["kv_cache_tokens"] = Gauge()
            for server in self.llm_servers:
                server.kv_gauge = self.gauges["kv_cache_tokens"]
        for cluster in self.clusters:
            cluster.gauges = (self.gauges["routable_servers"], self.gauges["ejected_servers"])
            if cluster.spec.autoscale is not None:
                cluster.autoscaler = Autoscaler(
                    self.kernel, cluster, cluster.spec.autoscale, cluster.spec.servers, self.gauges["healthy_servers"]
                )
        self.router.route_to(self.clusters, self._candidates())
        self.clients = Clients(
            self.kernel,
            scenario.clients,
            trace,
            Draws(stream(self.seed, Stream.CLIENTS)),
            self.router.submit,
            self.router.release,
            self.router.cancel,
            self.log,
        )
        self.router.answer_to(self.clients)
        self.clients.end_of_arrivals_s = scenario.duration
        self.gauge_rows: dict[str, list[float]] = {}

    def _build_clusters(self) -> list[Cluster]:
        clusters, first = [], 0
        for index, spec in enumerate(self.scenario.clusters):
            clusters.append(
                Cluster(self.kernel, spec, self.scenario.router, index, first, self.seed, self.router.answer)
            )
            first += spec.max_servers
        return clusters

    def _candidates(self) -> list[list[Cluster]]:
        """Per request class, the clusters serving its model (and, for dedicated pools, the class itself)."""
        out = []
        for name, model in zip(self.class_names, self.class_models, strict=True):
            base = name.split("@", 1)[0]  # a migrated twin class keeps its class's pool
            out.append(
                [
                    c
                    for c in self.clusters
                    if (model is None or c.spec.models is None or model in c.spec.models)
                    and (c.spec.classes is None or base in c.spec.classes)
                ]
            )
        return out

    def _window_edges(self) -> list[float]:
        duration, window = self.scenario.duration, self.scenario.window
        count = math.ceil(duration / window - 1e-9)
        return [min(k * window, duration) for k in range(count + 1)]

    def _monitor(self) -> Generator[Any, Any, None]:
        """Server counts (up, routable, ejected), time-averaged per window; the rest comes from records."""
        edges = self._window_edges()
        for start, end in itertools.pairwise(edges):
            yield self.kernel.env.timeout(end - start)
            self._close_window(start, end)

    def _close_window(self, start_s: float, end_s: float) -> None:
        for name, gauge in self.gauges.items():
            self.gauge_rows.setdefault(name, []).append(gauge.take_area(end_s) / (end_s - start_s))

    def run(self, progress: ProgressFn | None = None, steps: int = 100) -> SimResult:
        """Simulate until duration + drain; ``progress(now_s, end_s)`` is called ``steps`` times."""
        started = time.perf_counter()
        start_faults(
            self.kernel,
            list(self.scenario.faults),
            self.clusters,
            self.router,
            self.seed,
            self.gauges["healthy_servers"],
        )
        self.clients.start()
        self.kernel.env.process(self._monitor())
        for cluster in self.clusters:
            self.kernel.env.process(cluster.reporting())
            self.kernel.env.process(cluster.limiting())
            if cluster.health is not None:
                self.kernel.env.process(cluster.health.process())
            if cluster.autoscaler is not None:
                self.kernel.env.process(cluster.autoscaler.process())
        end_s = self.scenario.duration + self.scenario.drain
        collecting = gc.isenabled()
        gc.disable()  # millions of short-lived acyclic objects: reference counting frees them all
        try:
            for step in range(1, steps + 1):
                until = end_s * step / steps
                self.kernel.run(until)
                if progress is not None:
                    progress(until, end_s)
        finally:
            if collecting:
                gc.enable()
        result = self._result(end_s)
        result.wall_s = time.perf_counter() - started
        return result

    def _result(self, end_s: float) -> SimResult:
        edges = self._window_edges()
        done = len(self.gauge_rows.get("healthy_servers", []))
        if done < len(edges) - 1:  # the run stopped exactly at the end of the last window
            self._close_window(edges[-2], edges[-1])
        for attempt in list(self.clients.unlogged):
            self.log.append(attempt)  # still in flight at the end: code 0 unless the client had its answer
        clients = self.clients
        attempts = self.log.to_numpy()
        return SimResult(
            scenario=self.scenario,
            seed=self.seed,
            arrival_s=np.frombuffer(clients.arrival_s, dtype=np.float64),  # shares the clients' columns
            klass=np.frombuffer(clients.klass, dtype=np.int32),
            req_origin=np.frombuffer(clients.origin, dtype=np.int32),
            req_code=np.frombuffer(clients.code, dtype=np.int32),
            req_end_s=np.frombuffer(clients.end_s, dtype=np.float64),
            req_attempts=np.frombuffer(clients.attempts, dtype=np.int32),
            prompt_tokens=_tokens(clients.prompt_tokens, len(clients.arrival_s)),
            output_tokens=_tokens(clients.output_tokens, len(clients.arrival_s)),
            attempts=attempts,
            windows=self._windows(attempts, end_s),
            end_s=end_s,
            events=self.kernel.count_events(),
            class_names=tuple(name.split("@", 1)[0] for name in self.class_names),
            counters={"preemptions": sum(s.preemptions for s in self.llm_servers)} if self.llm_servers else {},
        )

    def _windows(self, a: dict[str, np.ndarray], end_s: float) -> dict[str, np.ndarray]:
        """Per-window time averages of busy slots, queued attempts, router slots held, healthy servers.

        An attempt holds a router slot over [sent, client end), waits in a queue over
        [sent + router overhead, service start or server end), and holds a slot over
        [service start, server end); anything still open at the end is open until ``end_s``.
        """
        sc = self.scenario
        starts = np.arange(len(self.gauge_rows["healthy_servers"])) * sc.window
        edges = np.append(starts, sc.duration)
        server_end = np.nan_to_num(a["server_end_s"], nan=end_s)
        # one full-length temporary at a time: a million attempts take 8 MB per column
        busy = open_count_means(a["start_s"], server_end, edges)  # never served: NaN start, an empty interval
        server_end = np.where(np.isnan(a["start_s"]), server_end, a["start_s"])  # when it left the queue
        queued = open_count_means(a["sent_s"] + sc.router.overhead, server_end, edges)
        del server_end
        return {
            "start_s": starts,
            "busy_slots": busy,
            "queue_depth": queued,
            "router_in_flight": open_count_means(a["sent_s"], np.nan_to_num(a["end_s"], nan=end_s), edges),
            **{name: np.array(rows) for name, rows in self.gauge_rows.items()},
        }


def _tokens(column: array[int] | int, n: int) -> np.ndarray:
    if isinstance(column, int):
        return np.full(n, column, dtype=np.int32)
    return np.frombuffer(column, dtype=np.int32)


def simulate(scenario: Scenario, seed: int | None = None, progress: ProgressFn | None = None) -> SimResult:
    """Run ``scenario`` once with ``seed`` (default: the scenario's seed)."""
    return Simulation(scenario, seed).run(progress)
