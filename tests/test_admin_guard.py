"""The mock's endpoints against cross-site requests, DNS rebinding and hostile bodies (in process,
on 127.0.0.1 with a port the system picks)."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from loadtest.mock import backend, guard, router
from sim.scenario.loading import parse_scenario
from tests.conftest import wait_for_async

# the router keeps its session under a plain string key, as it always has
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

SCENARIO = parse_scenario(
    {"duration": 100, "workload": {"rate": 1}, "clusters": [{"name": "a", "servers": 1}]}, "guard.yaml"
)
FAULT = {"cluster": "a", "kind": "error_rate", "value": 0.5, "duration_s": 0.1}
JSON = {"Content-Type": "application/json"}


def in_loop(test: Callable[[TestClient[Any, Any]], Coroutine[Any, Any, None]], app: str = "backend") -> None:
    """Run ``test`` against the backend (or router) app served on 127.0.0.1."""

    async def body() -> None:
        built = (
            backend.build_app(SCENARIO, 0, 1, 1.0)
            if app == "backend"
            else router.build_app(SCENARIO, ["http://127.0.0.1:9"], 1.0)
        )
        async with TestClient(TestServer(built, host="127.0.0.1")) as client:
            await asyncio.wait_for(test(client), timeout=20)

    asyncio.run(body())


async def status_and_error(response: Any) -> tuple[int, dict[str, Any]]:
    body = await response.json()
    return response.status, body.get("error", {})


def test_admin_posts_need_json_content_type() -> None:
    async def test(client: TestClient[Any, Any]) -> None:
        plain = await client.post("/admin/faults", data=json.dumps(FAULT), headers={"Content-Type": "text/plain"})
        status, error = await status_and_error(plain)
        assert status == 415 and error["param"] == "Content-Type" and "text/plain" in error["message"]
        assert (await client.post("/admin/faults", data=json.dumps(FAULT), headers=JSON)).status == 200

    in_loop(test)


def test_cross_origin_requests_are_refused_on_every_endpoint() -> None:
    async def test(client: TestClient[Any, Any]) -> None:
        evil = {**JSON, "Origin": "http://evil.example"}
        status, error = await status_and_error(await client.post("/admin/faults", data=json.dumps(FAULT), headers=evil))
        assert status == 403 and error["param"] == "Origin"
        assert (await client.get("/metrics", headers={"Origin": "http://evil.example"})).status == 403
        own = f"http://127.0.0.1:{client.port}"
        assert (await client.get("/health", headers={"Origin": own})).status == 200

    in_loop(test)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8800", "attacker.test:80", "[::2]", "bad host:x"])
def test_host_must_be_loopback_or_the_bound_address(host: str) -> None:
    async def test(client: TestClient[Any, Any]) -> None:
        status, error = await status_and_error(await client.get("/metrics", headers={"Host": host}))
        assert status == 421 and error["param"] == "Host"
        for good in ("localhost", "127.0.0.1:9", "[::1]:8800", f"127.0.0.1:{client.port}"):
            assert (await client.get("/health", headers={"Host": good})).status == 200, good

    in_loop(test)


def test_admin_token_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHSIM_ADMIN_TOKEN", "s3cret")

    async def test(client: TestClient[Any, Any]) -> None:
        status, error = await status_and_error(await client.post("/admin/faults", json=FAULT))
        assert status == 401 and error["param"] == "Authorization"
        wrong = {**JSON, "Authorization": "Bearer nope"}
        assert (await client.post("/admin/faults", data=json.dumps(FAULT), headers=wrong)).status == 401
        right = {**JSON, "Authorization": "Bearer s3cret"}
        assert (await client.post("/admin/faults", data=json.dumps(FAULT), headers=right)).status == 200
        assert (await client.get("/health")).status == 200  # only admin endpoints want it

    in_loop(test)


@pytest.mark.parametrize("path", ["/admin/faults", "/admin/clock"])
def test_deep_json_bodies_are_400_naming_the_body(path: str) -> None:
    async def test(client: TestClient[Any, Any]) -> None:
        deep = b"[" * 100_000 + b"]" * 100_000
        status, error = await status_and_error(await client.post(path, data=deep, headers=JSON))
        assert status == 400 and error["param"] == "body"

    in_loop(test, "router")


def test_router_admin_and_chat_refuse_deep_and_huge_bodies() -> None:
    async def test(client: TestClient[Any, Any]) -> None:
        deep = b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        status, error = await status_and_error(await client.post("/v1/chat/completions", data=deep, headers=JSON))
        assert status == 400 and "body is nested too deeply" in error["message"]
        huge = b'{"kind": "' + b"x" * 2_000_000 + b'"}'
        status, error = await status_and_error(await client.post("/admin/faults", data=io.BytesIO(huge), headers=JSON))
        assert status == 413 and error["param"] == "body"

    in_loop(test, "router")


SLOW = parse_scenario(
    {
        "duration": 100,
        "workload": {"rate": 1},
        "clusters": [{"name": "a", "servers": 1, "service": {"kind": "deterministic", "mean": 2}}],
    },
    "slow.yaml",
)


async def _server_port(client: TestClient[Any, Any]) -> int:
    listing = await (await client.get("/servers")).json()
    return int(listing["servers"][0]["port"])


def on_backend_server(test: Callable[[int], Coroutine[Any, Any, None]]) -> None:
    """Run ``test`` with the port of the slow scenario's one mock server (its own listener)."""

    async def body() -> None:
        async with TestClient(TestServer(backend.build_app(SLOW, 0, 1, 1.0), host="127.0.0.1")) as client:
            await asyncio.wait_for(test(await _server_port(client)), timeout=20)

    asyncio.run(body())


def test_a_slow_headers_client_is_disconnected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "HEADER_TIMEOUT_S", 0.5)

    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"x" * 100
        try:
            for byte in head:  # a byte every 50 ms: the head would take 6 s
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.05)
            answer = await reader.read()
        except ConnectionError:  # the server closed it while we wrote
            answer = b""
        assert answer == b""  # closed by the server, unanswered...
        assert time.monotonic() - started < 3.0  # ...long before the head was sent
        writer.close()

    on_backend_server(test)


def test_a_body_that_does_not_come_is_408(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "BODY_TIMEOUT_S", 0.3)

    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()
        status_line = await reader.readline()
        assert b" 408 " in status_line, status_line
        writer.close()

    on_backend_server(test)


def test_a_client_leaving_mid_stream_is_one_line_not_tracebacks(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    chat = json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "stream": True}).encode()
    said: list[str] = []

    def went_away() -> bool:
        said.append(capsys.readouterr().err)
        return "client went away" in "".join(said)

    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        writer.write(head.encode() + f"Content-Length: {len(chat)}\r\n\r\n".encode() + chat)
        await writer.drain()
        assert b"data: " in await reader.readuntil(b"\n\n")  # the first token came; then the client goes
        writer.transport.abort()
        await wait_for_async(went_away, "the server to write the next token to the closed connection")

    on_backend_server(test)  # leaving it closes the server, which waits for its handlers
    err = "".join(said) + capsys.readouterr().err
    assert err.count("orchsim mock: client went away during POST /v1/chat/completions") == 1, err
    assert "Traceback" not in err and not [r for r in caplog.records if r.levelname == "ERROR"]
