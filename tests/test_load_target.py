"""The load generator against a real endpoint: https with a self-signed certificate made here, a bearer
token from the environment, a base path and a model name, driven by ``orchsim validate --target``;
and locust's report counting each request once (TTFT rows stay out of its totals)."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from loadtest.attempt import _request, tls_context
from loadtest.target import parse_target

TOKEN = "s3cret-token-for-the-test"
SCENARIO = {
    "name": "target",
    "duration": "20s",
    "warmup": 0,
    "drain": 0,
    "workload": {"rate": 2},
    "clusters": [{"name": "a", "servers": 2, "service": {"kind": "deterministic", "mean": "200ms"}}],
}


@dataclass
class Seen:
    """What the endpoint received."""

    paths: list[str] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)


def _certificate(folder: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def _app(seen: Seen) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        seen.paths.append(request.path)
        seen.auth.append(request.headers.get("Authorization", ""))
        seen.models.append(str(body.get("model")))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": {"message": "no", "type": "invalid_request_error"}}, status=401)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        tokens = int(body["max_tokens"])
        for i in range(tokens):
            chunk = {"choices": [{"index": 0, "delta": {"content": f"t{i} "}}]}
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        usage = {"choices": [], "usage": {"completion_tokens": tokens}}
        await response.write(b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n")
        return response

    app = web.Application()
    app.router.add_post("/prefix/v1/chat/completions", chat)
    return app


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[tuple[str, Path, Seen]]:
    """An https endpoint on 127.0.0.1 (a port the system picks), in a thread with its own event loop."""
    cert, key = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    seen, loop, started = Seen(), asyncio.new_event_loop(), threading.Event()
    runner = web.AppRunner(_app(seen), handle_signals=False)
    address: list[Any] = []

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
        address.extend(runner.addresses)
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    try:
        assert started.wait(30), "the https endpoint did not start"
        yield f"https://127.0.0.1:{address[0][1]}/prefix", cert, seen
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def test_validate_measures_an_https_endpoint_with_a_token_a_base_path_and_a_model(
    tmp_path: Path, endpoint: tuple[str, Path, Seen]
) -> None:
    url, cert, seen = endpoint
    path, out = tmp_path / "target.yaml", tmp_path / "out"
    path.write_text(yaml.safe_dump(SCENARIO))
    command = [sys.executable, "-m", "sim", "validate", str(path), "--target", url, "--ca-file", str(cert)]
    command += ["--model", "their-model", "--time-scale", "10", "--noise-seeds", "0", "--no-plots", "--out", str(out)]
    env = {**os.environ, "ORCHSIM_AUTH_TOKEN": TOKEN}
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode in (0, 1), done.stderr  # 1: the rows may differ from the simulation; it ran
    with (out / "measured_requests.csv").open() as handle:
        records = list(csv.DictReader(handle))
    assert len(records) >= 20 and {r["status"] for r in records} == {"200"}
    assert len(seen.paths) == len(records) and set(seen.paths) == {"/prefix/v1/chat/completions"}
    assert set(seen.auth) == {f"Bearer {TOKEN}"} and set(seen.models) == {"their-model"}
    with (out / "locust_stats.csv").open() as handle:
        rows = {(r["Type"], r["Name"]): int(r["Request Count"]) for r in csv.DictReader(handle)}
    ttft = sum(n for (kind, _), n in rows.items() if kind == "TTFT")
    assert ttft == len(records)  # one TTFT sample per streamed success, in rows of their own
    assert rows[("", "Aggregated")] == len(records)  # ...that the total leaves out
    outputs = [done.stdout, done.stderr, *(p.read_text(errors="replace") for p in out.iterdir() if p.is_file())]
    assert not any(TOKEN in text for text in outputs)  # the secret is written nowhere


def test_target_options_and_their_errors(tmp_path: Path) -> None:
    target = parse_target(
        "https://llm.example:8443/base/v1", ["X-Team: a"], "m", None, True, {"ORCHSIM_AUTH_TOKEN": TOKEN}
    )
    assert (target.host, target.port, target.tls, target.base_path, target.model) == (
        "llm.example",
        8443,
        True,
        "/base",
        "m",
    )
    head = _request(target, b"{}", None).decode()
    assert head.startswith("POST /base/v1/chat/completions HTTP/1.1\r\n")
    assert f"\r\nAuthorization: Bearer {TOKEN}\r\n" in head and "\r\nX-Team: a\r\n" in head
    assert TOKEN not in repr(target) and "Authorization" in repr(target)
    context = tls_context(target)
    assert context is not None and context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    assert tls_context(parse_target("http://127.0.0.1:1", environ={})) is None
    for url, headers, message in (
        ("ftp://x", [], "--host: expected an http:// or https:// URL"),
        ("http://x:99999", [], "--host: bad port"),
        ("http://x", ["no colon"], "--header: expected 'Name: value'"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_target(url, headers, environ={})
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    done = subprocess.run(
        [sys.executable, "-m", "sim", "validate", str(path), "--target", "https://127.0.0.1:1", "--ca-file", "nope"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "--ca-file: no such file: nope" in done.stderr
