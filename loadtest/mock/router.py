"""The orchestration layer under test: an asynchronous reverse proxy using the simulator's strategies.

    python -m loadtest.mock.router SCENARIO --port P --backend-port-base B [--time-scale K] [--set ...]

It validates requests, refuses with 503 when its own capacity (instances x concurrency, scaled by
router_saturation faults) is used up, picks a cluster serving the request with the scenario's
``router.cluster_strategy`` and a server with the scenario's strategy (the simulator's control plane,
``sim.control``, fed the router's live in-flight counts), retries a failed try itself as
``router.retries`` says (not once an answer has begun to stream),
forwards over HTTP and streams the answer back unbuffered. As in the simulator, a server it cannot
reach (refused: crashed and not yet noticed; or the connection dropped) gives 503, one too slow
(client timeout, scaled) 504.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

from loadtest.mock.catalog import ModelCatalog
from loadtest.mock.classes import CLASS_HEADER, ClassTable, RequestKind
from loadtest.mock.conventions import REQUEST_ID, install, request_id
from loadtest.mock.detection import HealthChecks, outlier_ejection
from loadtest.mock.guard import guard, json_body, read_body
from loadtest.mock.injection import (
    FaultError,
    Injection,
    monotonic_instant,
    parse_injection,
    planned_injections,
)
from loadtest.mock.metrics import LATENCY_BUCKETS_S
from loadtest.mock.openai_api import (
    MAX_BODY_BYTES,
    ChatRequest,
    RequestError,
    error_frame,
    error_response,
    parse_chat_request,
    parse_text_request,
)
from loadtest.mock.process import run_on_loopback, server_parser
from loadtest.mock.ratelimit import RateLimit, parse_rate_limit
from loadtest.mock.routed import BackendView, RoutedCluster, routed_clusters, watch
from loadtest.wire import admin_headers
from sim.control.capacity import RouterSlots
from sim.control.cluster_choice import CLUSTER_CHOICES, choose_cluster
from sim.control.retry import router_retries
from sim.control.routing import serves
from sim.faults import KINDS as FAULT_KINDS
from sim.rng import Draws, Stream, stream
from sim.scenario import Scenario
from sim.scenario.loading import load_scenario

__all__ = ["build_app", "main", "saturate"]


def saturate(slots: RouterSlots, fault: Injection) -> None:
    """A router fault (router_saturation) on the router's slots now, lifted after its duration (0: it
    stays), as its kind's entry in sim.faults says."""
    kind = FAULT_KINDS[fault.kind]
    kind.mock_router_apply(slots, fault.value)
    if fault.duration_s > 0:
        asyncio.get_running_loop().call_later(fault.duration_s, kind.mock_router_lift, slots, fault.value)


@dataclass
class _Request:
    klass: int = 0
    session: int = 0
    work: float = 1.0
    tokens: int = 2
    sent_s: float = 0.0


def build_app(
    scenario: Scenario,
    backend_urls: list[str],
    time_scale: float,
    max_body_bytes: int = MAX_BODY_BYTES,
    rate_limit: RateLimit | None = None,
) -> web.Application:
    """The router application for ``scenario`` with one backend URL per cluster (``rate_limit``:
    429 with retry-after beyond it)."""
    clusters = routed_clusters(scenario, backend_urls, time_scale)
    spec = scenario.router
    capacity = RouterSlots(None if spec.concurrency is None else spec.instances * spec.concurrency)
    choice, choice_draws = CLUSTER_CHOICES[spec.cluster_strategy], Draws(stream(scenario.seed, Stream.CLUSTER_CHOICE))
    retries = router_retries(spec.retries)
    classes = ClassTable(scenario)
    timeout_s = None if scenario.clients.timeout is None else scenario.clients.timeout / time_scale
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)  # process_open_fds and friends, to spot leaks
    answers = Counter("orchsim_router_requests", "answers by code", ["code"], registry=registry)
    in_flight = Gauge("orchsim_router_in_flight", "requests being proxied", registry=registry)
    Gauge(
        "orchsim_router_capacity",
        "requests taken at once now, router_saturation included (-1: no cap)",
        registry=registry,
    ).set_function(lambda: -1 if capacity.capacity is None else capacity.capacity)
    latency = Histogram(
        "orchsim_router_latency_seconds", "time to the last byte", registry=registry, buckets=LATENCY_BUCKETS_S
    )
    catalog = ModelCatalog(scenario)
    app = install(web.Application(client_max_size=max_body_bytes, middlewares=[guard]))
    tasks: list[asyncio.Task[None]] = []

    async def startup(app: web.Application) -> None:
        # no cap on connections to backends; idle ones close after 2 s so a burst leaves nothing behind
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None, keepalive_timeout=2.0)
        session = app["session"] = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s)
        )
        tasks.extend(asyncio.create_task(watch(cluster, session)) for cluster in clusters)
        if spec.outlier_ejection is not None:
            for cluster in clusters:
                cluster.outliers = outlier_ejection(spec.outlier_ejection, cluster, time_scale)
        if spec.health_check is not None:
            health = app["health"] = HealthChecks(spec.health_check, time_scale, clusters, session)
            health.start()
        loop = asyncio.get_running_loop()
        for at_s, fault in planned_injections(scenario, scenario.seed, time_scale):
            if fault.on_router:
                loop.call_later(at_s, saturate, capacity, fault)

    async def cleanup(app: web.Application) -> None:
        for task in tasks:
            task.cancel()
        if "health" in app:
            app["health"].stop()
        await app["session"].close()

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(request: web.Request) -> web.Response:
        states = {}
        for cluster in clusters:
            try:
                async with app["session"].get(f"{cluster.url}/health", timeout=aiohttp.ClientTimeout(total=1)) as r:
                    states[cluster.name] = r.status == 200 and cluster.discovered
            except (TimeoutError, aiohttp.ClientError):
                states[cluster.name] = False
        return web.json_response(
            {"ready": all(states.values()), "backends": states}, status=200 if all(states.values()) else 503
        )

    async def models(request: web.Request) -> web.Response:
        return web.json_response(catalog.listing())

    async def model(request: web.Request) -> web.Response:
        name = request.match_info["model"]
        if not catalog.known(name):
            return _unknown_model(name)
        return web.json_response(catalog.entry(name))

    async def chat(request: web.Request) -> web.StreamResponse:
        return await _complete(request, parse_chat_request)

    async def text(request: web.Request) -> web.StreamResponse:
        return await _complete(request, parse_text_request)

    async def _complete(request: web.Request, parse: Callable[[bytes], ChatRequest]) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            body = await read_body(request, None)
            chat_request = parse(body)
            kind = classes.of(request.headers)
        except RequestError as exc:
            return _count(answers, error_response(exc.status, exc.message, exc.param, code=exc.code))
        model = chat_request.model
        if not catalog.known(model):
            return _count(answers, _unknown_model(model))
        candidates = [c for c in clusters if serves(c.spec, model or None, kind.name)]
        wait_s = 0.0 if rate_limit is None else rate_limit.take()
        if rate_limit is not None and wait_s > 0:
            return _count(answers, rate_limit.refusal(wait_s))
        if capacity.full():
            return _count(answers, error_response(503, "routing layer saturated", headers={"Retry-After": "1"}))
        routed = _Request(klass=kind.index, work=kind.work, sent_s=started)
        headers = {"Content-Type": "application/json", REQUEST_ID: request_id(request)}
        if CLASS_HEADER in request.headers:
            headers[CLASS_HEADER] = request.headers[CLASS_HEADER]
        capacity.in_flight += 1  # held over the router's own retries, as in the simulator
        in_flight.inc()
        try:
            hop = 0
            while True:
                response = await _try(request, body, headers, routed, kind, candidates)
                if retries is None or response.prepared or not retries.retries(response.status, hop):
                    break
                if timeout_s is not None and time.perf_counter() - started >= timeout_s:
                    break  # the client has given up: no try is left to answer
                hop += 1  # the router tries again; the client sees only the last try
        finally:
            capacity.in_flight -= 1
            in_flight.dec()
        latency.observe(time.perf_counter() - started)
        return _count(answers, response)

    async def _try(
        request: web.Request,
        body: bytes,
        headers: dict[str, str],
        routed: _Request,
        kind: RequestKind,
        candidates: list[RoutedCluster],
    ) -> web.StreamResponse:
        """One try: a cluster, a server in it, the request forwarded there."""
        cluster = choose_cluster(choice, candidates, kind.region, choice_draws, spec.spill_threshold)
        views = [] if cluster is None else cluster.routable
        if cluster is None or not views or not cluster.discovered:
            return error_response(503, "no server to send to", headers={"Retry-After": "1"})
        view = cluster.choose(routed, views)
        view.in_flight += 1
        view.work_in_flight += kind.work
        view.busy = min(view.in_flight, view.slots)
        try:
            response = await _forward(request, app["session"], f"{view.url}{request.path}", body, headers)
        finally:
            view.in_flight -= 1
            view.work_in_flight -= kind.work
            view.busy = min(view.in_flight, view.slots)
        if cluster.outliers is not None:
            cluster.outliers.observe(view, response.status)
        observe = getattr(cluster.strategy, "on_complete", None)
        if observe is not None:
            observe(view, routed, time.perf_counter())
        return response

    async def metrics_page(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), content_type="text/plain")

    async def server_views(request: web.Request) -> web.Response:
        """What the router knows of each server now (discovery, health checks, ejection, its own
        in-flight count): what an operator, or a test waiting for the router to notice, reads."""
        return web.json_response({c.name: [_view_state(v) for v in c.views] for c in clusters})

    async def admin_faults(request: web.Request) -> web.Response:
        """Inject a fault now: {"kind", "cluster", "server", "value", "duration_s", "in_flight"}; the
        router plays router_saturation itself and hands the others to the cluster's backend."""
        try:
            fault = parse_injection(await json_body(request))
            if fault.on_router:
                asyncio.get_running_loop().call_later(fault.delay_s(), saturate, capacity, fault)
                return web.json_response({"applied": fault.payload()})
            cluster = next((c for c in clusters if c.name == fault.cluster), None)
            if cluster is None:
                known = ", ".join(c.name for c in clusters)
                raise FaultError(f"cluster must name a cluster ({known}) (got {fault.cluster!r})", "cluster")
        except RequestError as exc:  # a body that is not JSON, too large or too deep
            return error_response(exc.status, f"bad fault: {exc.message}", exc.param)
        except FaultError as exc:
            return error_response(400, f"bad fault: {exc}", exc.field)
        url, payload = f"{cluster.url}/admin/faults", fault.payload()
        async with app["session"].post(url, data=json.dumps(payload), headers=admin_headers()) as upstream:
            return web.Response(body=await upstream.read(), status=upstream.status, content_type="application/json")

    async def admin_clock(request: web.Request) -> web.Response:
        """Restart the health-probe clock now (the load generator's time zero), as the simulator's
        probes run from the start of its run."""
        try:  # the body is checked even when there are no probes to restart
            body = await json_body(request)
            epoch = monotonic_instant(body if isinstance(body, dict) else {}, "epoch_monotonic_s")
        except RequestError as exc:  # a body that is not JSON, too large or too deep
            return error_response(exc.status, f"bad clock: {exc.message}", exc.param)
        except FaultError as exc:
            return error_response(400, f"bad clock: {exc}", exc.field)
        health: HealthChecks | None = app.get("health")
        if health is None:
            return web.json_response({"probes": None})
        health.start(epoch)
        return web.json_response({"probes": "restarted", "interval_s": health.spec.interval / time_scale})

    app.on_startup.append(startup)
    app.on_cleanup.append(cleanup)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/servers", server_views)
    app.router.add_post("/admin/faults", admin_faults)
    app.router.add_post("/admin/clock", admin_clock)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/v1/models/{model}", model)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/completions", text)
    return app


def _unknown_model(name: str) -> web.Response:
    message = f"The model {name!r} does not exist: GET /v1/models lists the models served"
    return error_response(404, message, "model", code="model_not_found")


def _view_state(view: BackendView) -> dict[str, Any]:
    return {
        "index": view.index,
        "up": view.up,
        "drained": view.drained,
        "healthy": view.probed_healthy,
        "ejected": view.ejected,
        "in_flight": view.in_flight,
    }


def _count(counter: Counter, response: web.StreamResponse) -> web.StreamResponse:
    counter.labels(str(response.status)).inc()
    return response


async def _forward(
    request: web.Request, session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> web.StreamResponse:
    """Proxy one request; stream the answer through as it arrives."""
    response: web.StreamResponse | None = None
    try:
        async with session.post(url, data=body, headers=headers) as upstream:
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
        return await _failed(response, 504, "backend too slow: timed out")
    except aiohttp.ClientError as exc:  # refused, reset, closed before (or while) answering
        return await _failed(response, 503, f"backend unavailable: {exc}")


async def _failed(stream: web.StreamResponse | None, status: int, message: str) -> web.StreamResponse:
    """An error answer; once a stream has begun, an SSE error frame that ends it."""
    if stream is None:
        return error_response(status, message, headers={"Retry-After": "1"} if status == 503 else None)
    await stream.write(error_frame(status, message))
    await stream.write_eof()
    return stream


def _passed(upstream: aiohttp.ClientResponse) -> dict[str, str]:
    """Headers the client should see: Retry-After and the backend's X-Orchsim-* timing."""
    return {
        k: v for k, v in upstream.headers.items() if k.lower() == "retry-after" or k.lower().startswith("x-orchsim-")
    }


def main(argv: list[str] | None = None) -> None:
    """Run the router on 127.0.0.1 until stopped."""
    parser = server_parser(__doc__)
    parser.add_argument("--backend-port-base", type=int, required=True)
    parser.add_argument("--rate-limit", type=parse_rate_limit, default=None, metavar="RPS[:BURST]")
    args = parser.parse_args(argv)
    scenario = load_scenario(args.scenario, args.overrides)
    urls = [f"http://127.0.0.1:{args.backend_port_base + i}" for i in range(len(scenario.clusters))]
    run_on_loopback(build_app(scenario, urls, args.time_scale, args.max_body, args.rate_limit), args.port)


if __name__ == "__main__":
    main()
