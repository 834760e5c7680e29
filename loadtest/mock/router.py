"""The orchestration layer under test: an asynchronous reverse proxy using the simulator's strategies.

    python -m loadtest.mock.router SCENARIO --port P --backend-port-base B [--time-scale K] [--set ...]

It validates requests, refuses with 503 when its own capacity (instances x concurrency) is used
up, picks a cluster serving the model and a server with the scenario's strategy (the same code
as the simulator, fed the router's live in-flight counts), forwards over HTTP and streams the
answer back unbuffered; a backend it cannot reach gives 502, one too slow (client timeout,
scaled) 504.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

from loadtest.mock.openai_api import MAX_BODY_BYTES, RequestError, error_response, parse_chat_request
from loadtest.mock.process import run_on_loopback, server_parser
from sim.loading import load_scenario
from sim.rng import Draws, stream
from sim.scenario import HealthCheck, OutlierEjection, Scenario
from sim.strategies import Strategy, make_strategy

__all__ = ["BackendView", "build_app", "main"]


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
    healthy: bool = True  # the router's view from its health checks
    probe_failures: int = 0
    probe_successes: int = 0
    consecutive_5xx: int = 0
    ejected_until: float = 0.0
    ejections: int = 0


@dataclass
class RoutedCluster:
    name: str
    url: str
    models: list[str] | None
    views: list[BackendView]
    strategy: Strategy
    draws: Draws
    slots: int = field(default=0)

    def usable(self, panic_threshold: float) -> list[BackendView]:
        """Servers healthy and not ejected; all of them below the panic threshold."""
        now = time.monotonic()
        usable = [v for v in self.views if v.healthy and v.ejected_until <= now]
        return self.views if len(usable) < panic_threshold * len(self.views) else usable

    def choose(self, request: Any, views: list[BackendView]) -> BackendView:
        if self.strategy.central:  # the mock has no router queue: least in flight, as free as it gets
            return min(views, key=lambda v: (v.in_flight, v.index))
        return views[self.strategy.choose(views, request, self.draws)]


@dataclass
class _Request:
    klass: int = 0
    session: int = 0
    work: float = 1.0
    tokens: int = 2
    sent_s: float = 0.0


def build_app(
    scenario: Scenario, backend_urls: list[str], time_scale: float, max_body_bytes: int = MAX_BODY_BYTES
) -> web.Application:
    """The router application for ``scenario`` with one backend URL per cluster."""
    clusters = _clusters(scenario, backend_urls)
    capacity = None if scenario.router.concurrency is None else scenario.router.instances * scenario.router.concurrency
    timeout_s = None if scenario.clients.timeout is None else scenario.clients.timeout / time_scale
    state = {"in_flight": 0}
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)  # process_open_fds and friends, to spot leaks
    answers = Counter("orchsim_router_requests", "answers by code", ["code"], registry=registry)
    in_flight = Gauge("orchsim_router_in_flight", "requests being proxied", registry=registry)
    latency = Histogram("orchsim_router_latency_seconds", "time to the last byte", registry=registry)
    app = web.Application(client_max_size=max_body_bytes)

    outliers = (
        None if scenario.router.outlier_ejection is None else Outliers(scenario.router.outlier_ejection, time_scale)
    )

    async def startup(app: web.Application) -> None:
        # no cap on connections to backends; idle ones close after 2 s so a burst leaves nothing behind
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None, keepalive_timeout=2.0)
        app["session"] = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s))
        if scenario.router.health_check is not None:
            checker = HealthChecks(scenario.router.health_check, time_scale, clusters, app["session"])
            app["health_task"] = asyncio.create_task(checker.run())

    async def cleanup(app: web.Application) -> None:
        if "health_task" in app:
            app["health_task"].cancel()
        await app["session"].close()

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(request: web.Request) -> web.Response:
        states = {}
        for cluster in clusters:
            try:
                async with app["session"].get(f"{cluster.url}/health", timeout=aiohttp.ClientTimeout(total=1)) as r:
                    states[cluster.name] = r.status == 200
            except (TimeoutError, aiohttp.ClientError):
                states[cluster.name] = False
        return web.json_response(
            {"ready": all(states.values()), "backends": states}, status=200 if all(states.values()) else 503
        )

    async def models(request: web.Request) -> web.Response:
        names = sorted({m for c in clusters for m in (c.models or ["orchsim-default"])})
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "orchsim"} for name in names]
        return web.json_response({"object": "list", "data": data})

    async def chat(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            body = await request.read()
            chat_request = parse_chat_request(body)
        except web.HTTPRequestEntityTooLarge:
            return _count(answers, error_response(413, f"body larger than {max_body_bytes} bytes"))
        except RequestError as exc:
            return _count(answers, error_response(exc.status, exc.message, exc.param))
        model = chat_request.model
        candidates = [c for c in clusters if not model or c.models is None or model in c.models]
        if not candidates:
            return _count(answers, error_response(404, f"model {chat_request.model!r} does not exist", "model"))
        if capacity is not None and state["in_flight"] >= capacity:
            return _count(answers, error_response(503, "routing layer saturated", headers={"Retry-After": "1"}))
        cluster = max(candidates, key=lambda c: c.slots - sum(v.in_flight for v in c.views))
        views = cluster.usable(scenario.router.panic_threshold)
        if not views:
            return _count(answers, error_response(503, "no healthy server", headers={"Retry-After": "1"}))
        view = cluster.choose(_Request(sent_s=started), views)
        state["in_flight"] += 1
        view.in_flight += 1
        view.busy = min(view.in_flight, view.slots)
        in_flight.inc()
        try:
            response = await _forward(
                request, app["session"], f"{cluster.url}/s/{view.index}/v1/chat/completions", body
            )
        finally:
            state["in_flight"] -= 1
            view.in_flight -= 1
            view.busy = min(view.in_flight, view.slots)
            in_flight.dec()
        if outliers is not None:
            outliers.observe(cluster, view, response.status)
        observe = getattr(cluster.strategy, "on_complete", None)
        if observe is not None:
            observe(view, _Request(sent_s=started), time.perf_counter())
        latency.observe(time.perf_counter() - started)
        return _count(answers, response)

    async def metrics_page(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), content_type="text/plain")

    async def admin_faults(request: web.Request) -> web.Response:
        """Inject a fault now: {"cluster": NAME, "server": I or null, "kind", "value", "duration_s"}."""
        try:
            fault = await request.json()
            cluster = next(c for c in clusters if c.name == fault.pop("cluster"))
        except (ValueError, KeyError, StopIteration, AttributeError) as exc:
            return error_response(400, f"bad fault: give an existing 'cluster' ({exc})", "cluster")
        async with app["session"].post(f"{cluster.url}/admin/faults", json=fault) as upstream:
            return web.Response(body=await upstream.read(), status=upstream.status, content_type="application/json")

    app.on_startup.append(startup)
    app.on_cleanup.append(cleanup)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_post("/admin/faults", admin_faults)
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)
    return app


class HealthChecks:
    """Active health checks of every backend server, as the scenario configures them (scaled time)."""

    def __init__(
        self, spec: HealthCheck, time_scale: float, clusters: list[RoutedCluster], session: aiohttp.ClientSession
    ) -> None:
        self.spec, self.time_scale, self.clusters, self.session = spec, time_scale, clusters, session

    async def run(self) -> None:
        pairs = [(c, v) for c in self.clusters for v in c.views]
        while True:
            await asyncio.sleep(self.spec.interval / self.time_scale)
            results = await asyncio.gather(*(self._probe(c, v) for c, v in pairs))
            for (_, view), ok in zip(pairs, results, strict=True):
                self._count(view, ok)

    async def _probe(self, cluster: RoutedCluster, view: BackendView) -> bool:
        timeout = aiohttp.ClientTimeout(total=self.spec.timeout / self.time_scale)
        try:
            async with self.session.get(f"{cluster.url}/s/{view.index}/health", timeout=timeout) as response:
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


def _count(counter: Counter, response: web.StreamResponse) -> web.StreamResponse:
    counter.labels(str(response.status)).inc()
    return response


def _clusters(scenario: Scenario, urls: list[str]) -> list[RoutedCluster]:
    out = []
    for i, (spec, url) in enumerate(zip(scenario.clusters, urls, strict=True)):
        views = [BackendView(index=k, slots=spec.slots) for k in range(spec.servers)]
        name, params = (
            (scenario.router.strategy, scenario.router.params)
            if spec.strategy is None
            else (spec.strategy, spec.params or {})
        )
        draws = Draws(stream(scenario.seed, "routing", i))
        strategy = make_strategy(name, params, views, draws)
        out.append(RoutedCluster(spec.name, url, spec.models, views, strategy, draws, spec.servers * spec.slots))
    return out


async def _forward(request: web.Request, session: aiohttp.ClientSession, url: str, body: bytes) -> web.StreamResponse:
    """Proxy one request; stream the answer through as it arrives."""
    try:
        async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as upstream:
            if upstream.content_type != "text/event-stream":
                payload = await upstream.read()
                return web.Response(
                    body=payload, status=upstream.status, content_type=upstream.content_type, headers=_passed(upstream)
                )
            headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **_passed(upstream)}
            response = web.StreamResponse(status=upstream.status, headers=headers)
            await response.prepare(request)
            async for data in upstream.content.iter_any():
                await response.write(data)
            await response.write_eof()
            return response
    except TimeoutError:
        return error_response(504, "backend too slow: timed out")
    except aiohttp.ClientConnectionError as exc:
        return error_response(502, f"backend unreachable: {exc}")


def _passed(upstream: aiohttp.ClientResponse) -> dict[str, str]:
    """Headers the client should see: Retry-After and the backend's X-Orchsim-* timing."""
    return {
        k: v for k, v in upstream.headers.items() if k.lower() == "retry-after" or k.lower().startswith("x-orchsim-")
    }


def main(argv: list[str] | None = None) -> None:
    """Run the router on 127.0.0.1 until stopped."""
    parser = server_parser(__doc__)
    parser.add_argument("--backend-port-base", type=int, required=True)
    args = parser.parse_args(argv)
    scenario = load_scenario(args.scenario, args.overrides)
    urls = [f"http://127.0.0.1:{args.backend_port_base + i}" for i in range(len(scenario.clusters))]
    run_on_loopback(build_app(scenario, urls, args.time_scale, args.max_body), args.port)


if __name__ == "__main__":
    main()
