"""Prometheus figures of one backend process: orchsim's own (``orchsim_backend_*``) and vLLM's names
(``vllm:*``, labelled ``model_name`` and ``server``), so a dashboard built for vLLM reads the mock.

Histograms span LLM ranges: latencies from 5 ms to 600 s, times per output token from 1 ms to 5 s.
Times are real seconds (at ``--time-scale K`` a simulated second takes 1/K of one). vLLM's figures
are the engine's: TTFT and queue time from the server's own schedule (its wait, then the first of
the answer's evenly spaced tokens), the KV-cache usage stands in as the share of slots busy.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from loadtest.mock.server import MockServer
from sim.scenario import Cluster

__all__ = ["DEFAULT_MODEL", "LATENCY_BUCKETS_S", "TOKEN_BUCKETS_S", "Metrics", "served_model"]

LATENCY_BUCKETS_S = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    20.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
)
TOKEN_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0)
DEFAULT_MODEL = "orchsim-default"  # the name a cluster that lists no models serves under


def served_model(cluster: Cluster) -> str:
    """The ``model_name`` a cluster's servers report (vLLM's first served model name)."""
    return cluster.models[0] if cluster.models else DEFAULT_MODEL


class Metrics:
    """Prometheus figures of one backend process (one cluster, serving ``model_name``)."""

    def __init__(self, model_name: str = DEFAULT_MODEL) -> None:
        self.model_name = model_name
        registry = self.registry = CollectorRegistry()
        self.requests = Counter("orchsim_backend_requests", "answers by code", ["server", "code"], registry=registry)
        self.in_flight = Gauge("orchsim_backend_in_flight", "requests held", ["server"], registry=registry)
        self.queue_depth = Gauge("orchsim_backend_queue_depth", "requests waiting", ["server"], registry=registry)
        self.busy = Gauge("orchsim_backend_busy_slots", "slots serving", ["server"], registry=registry)
        self.latency = Histogram(
            "orchsim_backend_latency_seconds", "time to the last byte", ["server"], registry=registry,
            buckets=LATENCY_BUCKETS_S,
        )  # fmt: skip
        self.ttft = Histogram(
            "orchsim_backend_ttft_seconds", "time to the first token", ["server"], registry=registry,
            buckets=LATENCY_BUCKETS_S,
        )  # fmt: skip
        self._vllm(registry)

    def _vllm(self, registry: CollectorRegistry) -> None:
        labels = ["model_name", "server"]

        def histogram(name: str, text: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, text, labels, registry=registry, buckets=buckets)

        self.running = Gauge("vllm:num_requests_running", "requests being served", labels, registry=registry)
        self.waiting = Gauge("vllm:num_requests_waiting", "requests waiting for a slot", labels, registry=registry)
        self.kv_usage = Gauge("vllm:kv_cache_usage_perc", "share of slots busy (0..1)", labels, registry=registry)
        self.gpu_cache = Gauge("vllm:gpu_cache_usage_perc", "share of slots busy (0..1)", labels, registry=registry)
        self.vllm_ttft = histogram("vllm:time_to_first_token_seconds", "time to the first token", LATENCY_BUCKETS_S)
        self.e2e = histogram("vllm:e2e_request_latency_seconds", "arrival to the last token", LATENCY_BUCKETS_S)
        self.tpot = histogram("vllm:time_per_output_token_seconds", "time per output token", TOKEN_BUCKETS_S)
        self.queue_time = histogram("vllm:request_queue_time_seconds", "time waiting for a slot", LATENCY_BUCKETS_S)
        self.success = Counter(
            "vllm:request_success", "requests finished", [*labels, "finished_reason"], registry=registry
        )
        self.prompt_tokens = Counter("vllm:prompt_tokens", "prompt tokens processed", labels, registry=registry)
        self.generation_tokens = Counter("vllm:generation_tokens", "tokens generated", labels, registry=registry)

    def refresh(self, servers: Iterable[MockServer]) -> None:
        """Set the gauges from the servers' state now (before a scrape)."""
        for server in servers:
            label, busy = str(server.index), server.slots - server.free
            vllm = (self.model_name, label)
            self.queue_depth.labels(label).set(server.queued)
            self.busy.labels(label).set(busy)
            self.running.labels(*vllm).set(busy)
            self.waiting.labels(*vllm).set(server.queued)
            self.kv_usage.labels(*vllm).set(busy / server.slots)
            self.gpu_cache.labels(*vllm).set(busy / server.slots)

    def finished(
        self, server: str, wait_s: float, service_s: float, e2e_s: float, prompt_tokens: int, tokens: int
    ) -> None:
        """A request served whole: ``service_s`` spread evenly over its ``tokens``."""
        vllm = (self.model_name, server)
        self.queue_time.labels(*vllm).observe(wait_s)
        self.vllm_ttft.labels(*vllm).observe(wait_s + service_s / tokens)
        self.e2e.labels(*vllm).observe(e2e_s)
        if tokens > 1:
            self.tpot.labels(*vllm).observe(service_s / tokens)
        self.success.labels(*vllm, "length").inc()
        self.prompt_tokens.labels(*vllm).inc(prompt_tokens)
        self.generation_tokens.labels(*vllm).inc(tokens)
