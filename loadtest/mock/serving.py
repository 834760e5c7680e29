"""What one mock server answers on its own port: ``POST /v1/chat/completions``, ``POST /v1/completions``
and ``GET /health``.

Service times come from the scenario's service model and the server's own stream, times the
request class's ``work``, the slowdown in force and the concurrency factor (the simulator's
formula), divided by the time scale; a streamed answer spreads its tokens evenly over it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import web

from loadtest.mock.classes import ClassTable, RequestKind
from loadtest.mock.conventions import install
from loadtest.mock.guard import guard, read_body
from loadtest.mock.metrics import Metrics
from loadtest.mock.openai_api import (
    ChatRequest,
    RequestError,
    chunk,
    completion,
    error_frame,
    error_response,
    new_id,
    parse_chat_request,
    parse_text_request,
)
from loadtest.mock.server import CrashError, MockServer
from sim.control.faults import error_latency_s
from sim.control.health import probe_wait_s
from sim.scenario import Cluster
from sim.workload.service import llm_request_s

__all__ = ["server_app"]


def server_app(
    server: MockServer, spec: Cluster, classes: ClassTable, metrics: Metrics, time_scale: float, max_body_bytes: int
) -> web.Application:
    """The application one server listens with."""
    handlers = _Handlers(server, spec, classes, metrics, time_scale, max_body_bytes)
    app = install(web.Application(client_max_size=max_body_bytes, middlewares=[guard]))
    app.router.add_post("/v1/chat/completions", handlers.chat)
    app.router.add_post("/v1/completions", handlers.text)
    app.router.add_get("/health", handlers.probe)
    return app


class _Handlers:
    def __init__(
        self,
        server: MockServer,
        spec: Cluster,
        classes: ClassTable,
        metrics: Metrics,
        time_scale: float,
        max_body_bytes: int,
    ) -> None:
        self.server, self.spec, self.classes, self.metrics = server, spec, classes, metrics
        self.time_scale, self.max_body_bytes = time_scale, max_body_bytes
        self.factors = spec.service.factors(spec.slots) if spec.service.kind != "llm" else None
        self.slowest = (spec.service.factors(spec.slots) or [1.0] * (spec.slots + 1))[spec.slots]
        self.label = str(server.index)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, parse_chat_request)

    async def text(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, parse_text_request)

    async def _handle(self, request: web.Request, parse: Callable[[bytes], ChatRequest]) -> web.StreamResponse:
        if self.server.down:  # a connection accepted just before the crash: it ends unanswered
            return _drop(request)
        try:
            body = await read_body(request, None)
            chat_request = parse(body)
            kind = self.classes.of(request.headers)
        except RequestError as exc:
            return error_response(exc.status, exc.message, exc.param, code=exc.code)
        self.server.serving.add(request.protocol)
        try:
            return await self._serve(request, chat_request, kind)
        finally:
            self.server.serving.discard(request.protocol)

    async def _serve(self, request: web.Request, chat: ChatRequest, kind: RequestKind) -> web.StreamResponse:
        server, metrics, label = self.server, self.metrics, self.label
        started = time.perf_counter()
        while server.partitioned:
            await asyncio.sleep(0.05)  # unreachable: hang until the partition ends
        if server.down:  # it crashed while the request was read or held by the partition
            return _drop(request)
        if server.unavailable:
            metrics.requests.labels(label, "503").inc()
            return error_response(503, "server unavailable", headers={"Retry-After": "1"})
        life = server.life
        metrics.in_flight.labels(label).inc()
        try:
            slot = await server.acquire(kind.priority)  # when its service starts (see MockServer.acquire)
            if slot is None or slot.shed:
                metrics.requests.labels(label, "503").inc()
                why = "waiting room full" if slot is None else "dropped from the waiting room (CoDel or eviction)"
                return error_response(503, f"server busy: {why}", headers={"Retry-After": "1"})
            due_end = None
            try:
                # as in the simulator: an error_rate fault fails a request when its service would start
                error_s = (
                    error_latency_s(server.error_fractions, server.fault_draws) if server.error_fractions else None
                )
                if error_s is not None:
                    due_end = slot.begin + error_s / self.time_scale
                    await server.pause_until(due_end, life)
                    metrics.requests.labels(label, "500").inc()
                    return error_response(500, "injected error")
                service_s = self._service_s(chat, kind) * server.slow_factor / self.time_scale
                due_end = slot.begin + service_s
                timing = {
                    "X-Orchsim-Wait-S": f"{slot.begin - slot.arrived:.6f}",
                    "X-Orchsim-Service-S": f"{service_s:.6f}",
                    # when the request reached this server, on the machine's time.monotonic(): the load
                    # generator finds how late the path brought it (loadtest.path_delay)
                    "X-Orchsim-Arrived-S": f"{slot.arrived:.6f}",
                }
                response = await self._answer(request, chat, slot.begin, service_s, life, started, timing)
                wait_s = slot.begin - slot.arrived
            finally:
                server.release(life, due_end)
        except CrashError as crash:
            return await self._crashed(request, crash, None)
        except _CutError as cut:
            return await self._crashed(request, cut.crash, cut.response)
        finally:
            metrics.in_flight.labels(label).dec()
        metrics.requests.labels(label, "200").inc()
        e2e_s = time.perf_counter() - started
        metrics.latency.labels(label).observe(e2e_s)
        metrics.finished(label, wait_s, service_s, e2e_s, chat.prompt_tokens, chat.max_tokens)
        return response

    def _service_s(self, chat: ChatRequest, kind: RequestKind) -> float:
        """Service time in scenario seconds (before slowdown): a draw (the request's own with per-request
        service draws) x class work x concurrency factor, or for the LLM model prefill + decode at the
        batch size the request starts in (the request's prompt words and max_tokens as token counts)."""
        server, busy = self.server, self.server.slots - self.server.free
        if self.spec.service.kind == "llm":
            return llm_request_s(self.spec.service, chat.prompt_tokens, chat.max_tokens, busy, server.slots)
        factor = 1.0 if self.factors is None else self.factors[min(max(busy, 1), server.slots)]
        u = chat.service_u  # the request's own draw (per-request service draws), else the server's stream
        return (server.service.next_s() if u is None else server.service.at_s(u)) * kind.work * factor

    async def _answer(
        self,
        request: web.Request,
        chat: ChatRequest,
        begin: float,
        service_s: float,
        life: int,
        started: float,
        timing: dict[str, str],
    ) -> web.StreamResponse:
        """The answer ``service_s`` real seconds after ``begin`` (``time.monotonic()``); ``timing`` headers
        tell the client the server's queueing wait and service time (load tests subtract them to find
        the HTTP path's own overhead)."""
        tokens, server = chat.max_tokens, self.server
        if not chat.stream:
            await server.pause_until(begin + service_s, life)
            text = " ".join(f"tok{i}" for i in range(tokens))
            return web.json_response(completion(chat, text, tokens), headers=timing)
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **timing}
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        ident = new_id(chat)
        try:
            for i in range(tokens):
                # sleep to each token's due time, not for a fixed gap: timer overshoot must not add up
                # over the tokens (8 tokens made the service ~8% longer than drawn at time scale 10)
                await server.pause_until(begin + (i + 1) * service_s / tokens, life)
                if i == 0:
                    self.metrics.ttft.labels(self.label).observe(time.perf_counter() - started)
                delta = {"role": "assistant", "content": f"tok{i}"} if i == 0 else {"content": f" tok{i}"}
                await response.write(chunk(chat, ident, delta))
        except CrashError as crash:
            raise _CutError(response, crash) from None
        await response.write(chunk(chat, ident, {}, finish="length"))
        if chat.include_usage:
            await response.write(chunk(chat, ident, {}, usage_tokens=tokens))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _crashed(
        self, request: web.Request, crash: CrashError, stream: web.StreamResponse | None
    ) -> web.StreamResponse:
        """A request the server held when it crashed: 500 at once (an SSE error frame if its stream had
        begun), or (lost) no answer at all."""
        if crash.lost:
            await self._hang(request)
            return stream if stream is not None else _drop(request)
        self.metrics.requests.labels(self.label, "500").inc()
        if stream is None:
            return error_response(500, "server crashed while holding the request")
        await stream.write(error_frame(500, "server crashed while holding the request"))
        await stream.write_eof()
        return stream

    async def _hang(self, request: web.Request) -> None:
        """A lost request: wait, silent, until the client gives up (or the process stops)."""
        self.metrics.requests.labels(self.label, "lost").inc()
        while request.transport is not None and not request.transport.is_closing() and not self.server.closing:
            await asyncio.sleep(0.05)

    async def probe(self, request: web.Request) -> web.Response:
        """A health probe: it fails when the server is down (unanswered) or a healthcheck_flap fault draws
        it (503), and waits as long as a request would wait behind the queue (the simulator's estimate)."""
        server = self.server
        while server.partitioned:
            await asyncio.sleep(0.05)
        if server.down:
            return _drop(request)
        if server.flapped():
            return error_response(503, "health check failed (healthcheck_flap)")
        if server.free == 0:
            wait_s = probe_wait_s(server.queued, server.slots, self.spec.service.mean, server.slow_factor, self.slowest)
            try:
                await server.pause(wait_s / self.time_scale, server.life)
            except CrashError:
                return _drop(request)
        return web.json_response({"status": "ok"})


class _CutError(Exception):
    """A crash cut a stream that had begun."""

    def __init__(self, response: web.StreamResponse, crash: CrashError) -> None:
        super().__init__("stream cut by a crash")
        self.response, self.crash = response, crash


def _drop(request: web.Request) -> web.Response:
    """End the connection without an answer, as a process that died would."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=503)
