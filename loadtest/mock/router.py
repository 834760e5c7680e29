"""The orchestration layer under test: an asynchronous reverse proxy using the simulator's strategies.

    python -m loadtest.mock.router SCENARIO --port P --backend-port-base B [--time-scale K] [--set ...]

It validates requests, refuses with 503 when its own capacity (instances x concurrency) is used
up, picks a cluster serving the model and a server with the scenario's strategy (the same code
as the simulator, fed the router's live in-flight counts), forwards over HTTP and streams the
answer back unbuffered; a backend it cannot reach gives 502, one too slow (client timeout,
scaled) 504.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

from loadtest.mock.limits import quiet_gc, raise_file_limit
from loadtest.mock.openai_api import MAX_BODY_BYTES, RequestError, error_response, parse_chat_request
from sim.loading import load_scenario
from sim.rng import Draws, stream
from sim.scenario import Scenario
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


@dataclass
class RoutedCluster:
    name: str
    url: str
    models: list[str] | None
    views: list[BackendView]
    strategy: Strategy
    draws: Draws
    slots: int = field(default=0)

    def choose(self, request: Any) -> BackendView:
        if self.strategy.central:  # the mock has no router queue: least in flight, as free as it gets
            return min(self.views, key=lambda v: (v.in_flight, v.index))
        return self.views[self.strategy.choose(self.views, request, self.draws)]


@dataclass
class _Request:
    klass: int = 0
    session: int = 0
    work: float = 1.0
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

    async def startup(app: web.Application) -> None:
        # no cap on connections to backends; idle ones close after 2 s so a burst leaves nothing behind
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None, keepalive_timeout=2.0)
        app["session"] = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s))

    async def cleanup(app: web.Application) -> None:
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
        view = cluster.choose(_Request(sent_s=started))
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
            response = web.StreamResponse(
                status=upstream.status, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
            )
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
    return {k: v for k, v in upstream.headers.items() if k.lower() == "retry-after"}


def main(argv: list[str] | None = None) -> None:
    """Run the router on 127.0.0.1 until stopped."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend-port-base", type=int, required=True)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--max-body", type=int, default=MAX_BODY_BYTES)
    args = parser.parse_args(argv)
    raise_file_limit()
    quiet_gc()
    scenario = load_scenario(args.scenario, args.overrides)
    urls = [f"http://127.0.0.1:{args.backend_port_base + i}" for i in range(len(scenario.clusters))]
    app = build_app(scenario, urls, args.time_scale, args.max_body)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None, handle_signals=True)


if __name__ == "__main__":
    main()
