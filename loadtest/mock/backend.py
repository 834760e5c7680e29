"""GPU stand-in: one process serves every server of one cluster, each with its slots and waiting room.

    python -m loadtest.mock.backend SCENARIO --cluster I --port P [--time-scale K] [--seed S] [--set ...]

Server ``i`` answers ``POST /s/{i}/v1/chat/completions``. Service times come from the scenario's
service model and the server's own stream (as in the simulator), divided by the time scale; a
streamed answer spreads its tokens evenly over the service time.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from loadtest.mock.openai_api import (
    MAX_BODY_BYTES,
    ChatRequest,
    RequestError,
    chunk,
    completion,
    error_response,
    parse_chat_request,
)
from loadtest.mock.process import run_on_loopback, server_parser
from sim.engine.faults import target_indices
from sim.loading import load_scenario
from sim.rng import Draws, stream
from sim.scenario import Cluster, Scenario
from sim.service import ServiceTimes, llm_request_s

__all__ = ["MockServer", "build_app", "main"]


class MockServer:
    """One server: ``slots`` requests at once, FCFS waiting room of ``queue_limit`` (None: unbounded)."""

    def __init__(self, index: int, spec: Cluster, seed: int, cluster_index: int) -> None:
        self.index = index
        self.slots = spec.slots
        self.queue_limit = spec.queue_limit
        self.service = ServiceTimes(spec.service, stream(seed, "service", cluster_index, index))
        self.fault_draws = Draws(stream(seed, "faults", cluster_index, index))
        self.free = spec.slots
        self.waiting: deque[asyncio.Future[None]] = deque()
        self.slow_factor = 1.0
        self.error_fraction = 0.0
        self.down = False  # crash: connections are dropped without an answer
        self.partitioned = False  # partition: requests hang until it ends, then are dropped
        self.unavailable = False  # answers 503 to everything (runtime fault "unavailable")

    @property
    def queued(self) -> int:
        return sum(1 for f in self.waiting if not f.done())

    async def acquire(self) -> bool:
        """Take a slot, waiting in line if needed; False when the waiting room is full."""
        if self.free > 0:
            self.free -= 1
            return True
        if self.queue_limit is not None and self.queued >= self.queue_limit:
            return False
        ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(ticket)
        try:
            await ticket
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():
                self.release()  # the slot was handed over just as the client left: pass it on
            raise
        return True

    def release(self) -> None:
        """Hand the slot to the next in line, or free it."""
        while self.waiting:
            ticket = self.waiting.popleft()
            if not ticket.done():
                ticket.set_result(None)
                return
        self.free += 1


class Metrics:
    """Prometheus figures of one backend process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "orchsim_backend_requests", "answers by code", ["server", "code"], registry=self.registry
        )
        self.in_flight = Gauge("orchsim_backend_in_flight", "requests held", ["server"], registry=self.registry)
        self.queue_depth = Gauge("orchsim_backend_queue_depth", "requests waiting", ["server"], registry=self.registry)
        self.busy = Gauge("orchsim_backend_busy_slots", "slots serving", ["server"], registry=self.registry)
        self.latency = Histogram(
            "orchsim_backend_latency_seconds", "time to the last byte", ["server"], registry=self.registry
        )
        self.ttft = Histogram(
            "orchsim_backend_ttft_seconds", "time to the first token", ["server"], registry=self.registry
        )


def build_app(
    scenario: Scenario, cluster_index: int, seed: int, time_scale: float, max_body_bytes: int = MAX_BODY_BYTES
) -> web.Application:
    """The aiohttp application of one cluster's backend process."""
    app = web.Application(client_max_size=max_body_bytes)
    spec = scenario.clusters[cluster_index]
    servers = [MockServer(i, spec, seed, cluster_index) for i in range(spec.servers)]
    metrics = Metrics()

    async def start_faults(app: web.Application) -> None:
        schedule_faults(scenario, cluster_index, servers, seed, time_scale)

    app.on_startup.append(start_faults)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "cluster": spec.name, "servers": len(servers)})

    async def chat(request: web.Request) -> web.StreamResponse:
        try:
            server = servers[int(request.match_info["server"])]
        except (ValueError, IndexError):
            return error_response(404, "no such server", "server")
        try:
            body = await request.read()
            chat_request = parse_chat_request(body)
        except web.HTTPRequestEntityTooLarge:
            return error_response(413, f"body larger than {max_body_bytes} bytes")
        except RequestError as exc:
            return error_response(exc.status, exc.message, exc.param)
        return await serve(request, server, chat_request)

    async def serve(request: web.Request, server: MockServer, chat_request: ChatRequest) -> web.StreamResponse:
        label = str(server.index)
        started = time.perf_counter()
        while server.partitioned:
            await asyncio.sleep(0.05)  # unreachable: hang until the partition ends
        if server.down:
            metrics.requests.labels(label, "dropped").inc()
            if request.transport is not None:
                request.transport.close()  # like a crashed process: the connection just ends
            return web.Response(status=503)
        if server.unavailable:
            metrics.requests.labels(label, "503").inc()
            return error_response(503, "server unavailable", headers={"Retry-After": "1"})
        if server.error_fraction and server.fault_draws.uniform() < server.error_fraction:
            metrics.requests.labels(label, "500").inc()
            return error_response(500, "injected error")
        metrics.in_flight.labels(label).inc()
        try:
            queued = time.perf_counter()
            if not await server.acquire():
                metrics.requests.labels(label, "503").inc()
                return error_response(503, "server busy: waiting room full", headers={"Retry-After": "1"})
            try:
                service_s = _service_s(server, spec, chat_request) * server.slow_factor / time_scale
                timing = {
                    "X-Orchsim-Wait-S": f"{time.perf_counter() - queued:.6f}",
                    "X-Orchsim-Service-S": f"{service_s:.6f}",
                }
                response = await _answer(request, chat_request, service_s, metrics, label, started, timing)
            finally:
                server.release()
        finally:
            metrics.in_flight.labels(label).dec()
        metrics.requests.labels(label, "200").inc()
        metrics.latency.labels(label).observe(time.perf_counter() - started)
        return response

    async def server_health(request: web.Request) -> web.Response:
        """A probe: it waits as long as a request would wait behind the queue (the simulator's estimate)."""
        try:
            server = servers[int(request.match_info["server"])]
        except (ValueError, IndexError):
            return error_response(404, "no such server", "server")
        while server.partitioned:
            await asyncio.sleep(0.05)
        if server.down:
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=503)
        if server.free == 0:
            wait_s = (server.queued + 1) / server.slots * spec.service.mean * server.slow_factor / time_scale
            await asyncio.sleep(wait_s)
        return web.json_response({"status": "ok"})

    async def admin_faults(request: web.Request) -> web.Response:
        try:
            fault = await request.json()
            targets = servers if fault.get("server") is None else [servers[int(fault["server"])]]
            apply_fault(targets, str(fault["kind"]), float(fault.get("value", 1.0)), float(fault.get("duration_s", 0)))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return error_response(400, f"bad fault: {exc}")
        return web.json_response({"applied": fault})

    async def metrics_page(request: web.Request) -> web.Response:
        for server in servers:
            metrics.queue_depth.labels(str(server.index)).set(server.queued)
            metrics.busy.labels(str(server.index)).set(server.slots - server.free)
        return web.Response(body=generate_latest(metrics.registry), content_type="text/plain")

    app.router.add_get("/health", health)
    app.router.add_post("/s/{server}/v1/chat/completions", chat)
    app.router.add_get("/s/{server}/health", server_health)
    app.router.add_post("/admin/faults", admin_faults)
    app.router.add_get("/metrics", metrics_page)
    return app


MOCK_FAULTS = ("slowdown", "error_rate", "crash", "partition", "unavailable")  # the last: 503 for all


def _service_s(server: MockServer, spec: Cluster, chat_request: ChatRequest) -> float:
    """Service time in scenario seconds: a draw, or for the LLM model prefill + decode at the
    batch size the request starts in (the request's prompt words and max_tokens as token counts)."""
    if spec.service.kind != "llm":
        u = chat_request.service_u  # the request's own draw (per-request service draws), else the server's stream
        return server.service.next_s() if u is None else server.service.at_s(u)
    batch = server.slots - server.free
    prompt, output = chat_request.prompt_tokens, chat_request.max_tokens
    return llm_request_s(spec.service, prompt, output, batch, server.slots)


def apply_fault(servers: list[MockServer], kind: str, value: float, duration_s: float) -> None:
    """Start a fault now on ``servers``; it is lifted after ``duration_s`` (0: until changed again)."""
    if kind not in MOCK_FAULTS:
        raise ValueError(f"kind must be one of {', '.join(MOCK_FAULTS)} (got {kind!r})")
    for server in servers:
        _set(server, kind, value, on=True)

    def lift() -> None:
        for server in servers:
            _set(server, kind, value, on=False)

    if duration_s > 0:
        asyncio.get_running_loop().call_later(duration_s, lift)


def _set(server: MockServer, kind: str, value: float, *, on: bool) -> None:
    if kind == "slowdown":
        server.slow_factor = value if on else 1.0
    elif kind == "error_rate":
        server.error_fraction = value if on else 0.0
    elif kind == "partition":
        server.partitioned = on
    elif kind == "unavailable":
        server.unavailable = on
    else:
        server.down = on


def schedule_faults(
    scenario: Scenario, cluster_index: int, servers: list[MockServer], seed: int, time_scale: float
) -> None:
    """Apply the scenario's faults on this cluster at their times, divided by the time scale.

    The servers hit are those the simulator picks for the same seed. Faults the mock does not
    play (drain, healthcheck_flap, router_saturation) are left to the simulator.
    """
    loop = asyncio.get_running_loop()
    for number, fault in enumerate(scenario.faults):
        if fault.kind not in MOCK_FAULTS or fault.target == "router":
            continue
        position, indices = target_indices(fault, list(scenario.clusters), seed, number)
        if position != cluster_index:
            continue
        value = fault.factor if fault.kind == "slowdown" else fault.fraction
        targets = [servers[i] for i in indices if i < len(servers)]
        span_s = (fault.end_s - fault.at) / time_scale
        loop.call_later(fault.at / time_scale, apply_fault, targets, fault.kind, value, span_s)


async def _answer(
    request: web.Request,
    chat: ChatRequest,
    service_s: float,
    metrics: Metrics,
    label: str,
    started: float,
    timing: dict[str, str],
) -> web.StreamResponse:
    """The answer after ``service_s`` real seconds; ``timing`` headers tell the client the server's
    queueing wait and service time (load tests subtract them to find the HTTP path's own overhead)."""
    tokens = chat.max_tokens
    text = " ".join(f"tok{i}" for i in range(tokens))
    if not chat.stream:
        await asyncio.sleep(service_s)
        return web.json_response(completion(chat, text, tokens), headers=timing)
    headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **timing}
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    ident = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    loop = asyncio.get_running_loop()
    begin = loop.time()
    for i in range(tokens):
        # sleep to each token's due time, not for a fixed gap: timer overshoot must not add up
        # over the tokens (8 tokens made the service ~8% longer than drawn at time scale 10)
        await asyncio.sleep(max(0.0, begin + (i + 1) * service_s / tokens - loop.time()))
        if i == 0:
            metrics.ttft.labels(label).observe(time.perf_counter() - started)
        delta = {"role": "assistant", "content": f"tok{i}"} if i == 0 else {"content": f" tok{i}"}
        await response.write(chunk(chat, ident, delta))
    await response.write(chunk(chat, ident, {}, finish="length"))
    if chat.include_usage:
        await response.write(chunk(chat, ident, {}, usage_tokens=tokens))
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def main(argv: list[str] | None = None) -> None:
    """Run one cluster's backend on 127.0.0.1 until stopped."""
    parser = server_parser(__doc__)
    parser.add_argument("--cluster", type=int, required=True)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    scenario = load_scenario(args.scenario, args.overrides)
    seed = scenario.seed if args.seed is None else args.seed
    run_on_loopback(build_app(scenario, args.cluster, seed, args.time_scale, args.max_body), args.port)


if __name__ == "__main__":
    main()
