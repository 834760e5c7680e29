"""GPU stand-in: one process serves every server of one cluster, each on a port of its own.

    python -m loadtest.mock.backend SCENARIO --cluster I --port P [--time-scale K] [--seed S] [--reserve PORT ...]

Port P is the process's own: ``GET /health``, ``/metrics``, ``/servers`` (where each server listens,
and whether it is up or drained), ``/watch`` (the same, then one line per change: the router's
service discovery) and ``POST /admin/faults``. Server ``i`` answers ``POST /v1/chat/completions``
and ``GET /health`` on its own port (``loadtest.mock.serving``); a crash closes that port.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web
from prometheus_client import generate_latest

from loadtest.mock.classes import ClassTable
from loadtest.mock.conventions import install
from loadtest.mock.guard import guard, json_body
from loadtest.mock.injection import FaultError, Injection, parse_injection, planned_injections
from loadtest.mock.metrics import Metrics, served_model
from loadtest.mock.openai_api import MAX_BODY_BYTES, RequestError, error_response
from loadtest.mock.process import run_on_loopback, server_parser
from loadtest.mock.server import MockServer
from loadtest.mock.serving import server_app
from sim.faults import KINDS as FAULT_KINDS
from sim.scenario import Scenario
from sim.scenario.loading import load_scenario

__all__ = ["apply_fault", "build_app", "main", "schedule_faults", "server_state"]


def server_state(server: MockServer) -> dict[str, Any]:
    """What the router learns of a server: where it listens, whether it takes requests."""
    return {"index": server.index, "port": server.port, "up": server.up, "drained": server.drained}


def build_app(
    scenario: Scenario,
    cluster_index: int,
    seed: int,
    time_scale: float,
    max_body_bytes: int = MAX_BODY_BYTES,
    reserved_ports: frozenset[int] = frozenset(),
) -> web.Application:
    """The aiohttp application of one cluster's backend process (its servers start with it, on
    ports outside ``reserved_ports``)."""
    app = install(web.Application(client_max_size=max_body_bytes, middlewares=[guard]))
    spec = scenario.clusters[cluster_index]
    servers = [MockServer(i, spec, seed, cluster_index, time_scale) for i in range(spec.servers)]
    metrics = Metrics(served_model(spec))
    classes = ClassTable(scenario)
    watchers: set[asyncio.Queue[bytes | None]] = set()

    def publish(server: MockServer) -> None:
        line = json.dumps(server_state(server)).encode() + b"\n"
        for queue in watchers:
            queue.put_nowait(line)

    async def startup(app: web.Application) -> None:
        for server in servers:
            await server.listen(server_app(server, spec, classes, metrics, time_scale, max_body_bytes), reserved_ports)
            server.on_change = publish
        schedule_faults(scenario, cluster_index, servers, seed, time_scale)

    async def shutdown(app: web.Application) -> None:
        for queue in watchers:
            queue.put_nowait(None)
        await asyncio.gather(*(server.close() for server in servers))

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "cluster": spec.name, "servers": len(servers)})

    async def server_list(request: web.Request) -> web.Response:
        return web.json_response({"cluster": spec.name, "servers": [server_state(s) for s in servers]})

    async def watch(request: web.Request) -> web.StreamResponse:
        """Every server's state, then a line per change, until the client or the process goes."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        watchers.add(queue)  # before the snapshot: no change can fall between the two
        try:
            response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
            await response.prepare(request)
            for server in servers:
                await response.write(json.dumps(server_state(server)).encode() + b"\n")
            while (line := await queue.get()) is not None:
                await response.write(line)
            return response
        finally:
            watchers.discard(queue)

    async def admin_faults(request: web.Request) -> web.Response:
        try:
            fault = parse_injection(await json_body(request))
            if fault.on_router:
                raise FaultError(f"kind {fault.kind} acts on the router: send it to the router", "kind")
            if fault.server is not None and fault.server >= len(servers):
                raise FaultError(
                    f"server must be below {len(servers)} in cluster {spec.name} (got {fault.server})", "server"
                )
        except RequestError as exc:  # a body that is not JSON, too large or too deep
            return error_response(exc.status, f"bad fault: {exc.message}", exc.param)
        except FaultError as exc:
            return error_response(400, f"bad fault: {exc}", exc.field)
        asyncio.get_running_loop().call_later(fault.delay_s(), apply_fault, servers, fault)
        return web.json_response({"applied": fault.payload()})

    async def metrics_page(request: web.Request) -> web.Response:
        metrics.refresh(servers)
        return web.Response(body=generate_latest(metrics.registry), content_type="text/plain")

    app.on_startup.append(startup)
    app.on_shutdown.append(shutdown)
    app.router.add_get("/health", health)
    app.router.add_get("/servers", server_list)
    app.router.add_get("/watch", watch)
    app.router.add_post("/admin/faults", admin_faults)
    app.router.add_get("/metrics", metrics_page)
    return app


def apply_fault(servers: list[MockServer], fault: Injection) -> None:
    """Start ``fault`` now; lift it after its duration (0: it stays), as its kind's entry in
    ``sim.faults`` says. Faults compose as in the simulator: each is one entry in the server's list of
    faults in force, removed when it ends (the state is recomputed from those left)."""
    targets = servers if fault.server is None else [servers[fault.server]]
    kind = FAULT_KINDS[fault.kind]
    for server in targets:
        kind.mock_apply(server, fault)

    def lift() -> None:
        for server in targets:
            kind.mock_lift(server, fault)

    if fault.duration_s > 0:
        asyncio.get_running_loop().call_later(fault.duration_s, lift)


def schedule_faults(
    scenario: Scenario, cluster_index: int, servers: list[MockServer], seed: int, time_scale: float
) -> None:
    """Apply the scenario's faults on this cluster at their times, divided by the time scale, on the
    servers the simulator picks for the same seed (router_saturation is the router's own)."""
    loop = asyncio.get_running_loop()
    name = scenario.clusters[cluster_index].name
    for at_s, fault in planned_injections(scenario, seed, time_scale):
        if fault.cluster == name and fault.server is not None and fault.server < len(servers):
            loop.call_later(at_s, apply_fault, servers, fault)


def main(argv: list[str] | None = None) -> None:
    """Run one cluster's backend on 127.0.0.1 until stopped."""
    parser = server_parser(__doc__)
    parser.add_argument("--cluster", type=int, required=True)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--reserve", type=int, action="append", default=[], help="a port servers must not take")
    args = parser.parse_args(argv)
    scenario = load_scenario(args.scenario, args.overrides)
    seed = scenario.seed if args.seed is None else args.seed
    app = build_app(scenario, args.cluster, seed, args.time_scale, args.max_body, frozenset(args.reserve))
    run_on_loopback(app, args.port)


if __name__ == "__main__":
    main()
