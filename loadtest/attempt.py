"""One HTTP attempt against the mock service or a user's endpoint (``loadtest.target``: TLS, extra
headers, a base path), on gevent sockets, with a hard total timeout.

A fresh connection per attempt (``Connection: close``): a client timeout closes the socket we
own, so nothing leaks into a pool and the server sees the client leave, as a real client would.
Runs inside the locust process only (gevent), never in the simulator or the asyncio mock.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from urllib.parse import quote

import gevent
from gevent import socket, ssl
from geventhttpclient.response import HTTPSocketResponse

from loadtest.target import Target
from loadtest.wire import post_request, read_frame, seconds

__all__ = ["Outcome", "send", "tls_context"]

CONNECTION_FAILED = 599  # no HTTP answer at all (refused, reset, closed before the headers)
CLIENT_TIMEOUT = 504


@dataclass
class Outcome:
    """What one attempt saw (times from ``time.perf_counter()``)."""

    status: int
    send_s: float
    end_s: float
    first_token_s: float = math.nan
    tokens: int = 0
    server_wait_s: float = math.nan
    server_service_s: float = math.nan
    server_arrived_s: float = math.nan  # when the backend got it, on time.monotonic() (X-Orchsim-Arrived-S)
    length: int = 0


def tls_context(target: Target) -> ssl.SSLContext | None:
    """The TLS context for ``target`` (None: plain HTTP): the system's CAs or its CA file, or no
    checks at all when it is ``insecure``."""
    if not target.tls:
        return None
    context = ssl.create_default_context(cafile=target.ca_file)
    if target.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def send(
    target: Target,
    body: bytes,
    stream: bool,
    timeout_s: float | None,
    klass: str | None = None,
    context: ssl.SSLContext | None = None,
) -> Outcome:
    """POST ``body`` to the target's chat completions path (``klass``: the request class, in
    ``X-Orchsim-Class``; ``context``: ``tls_context(target)``, made once); a 504 outcome when
    ``timeout_s`` (real) passes first."""
    outcome = Outcome(status=0, send_s=time.perf_counter(), end_s=math.nan)
    sock: socket.socket | None = None
    try:
        with gevent.Timeout(timeout_s):
            sock = socket.create_connection((target.host, target.port))
            if context is not None:
                sock = context.wrap_socket(sock, server_hostname=target.host)
            sock.sendall(_request(target, body, klass))
            _read(HTTPSocketResponse(sock), stream, outcome)
    except gevent.Timeout:
        outcome.status = CLIENT_TIMEOUT
    except Exception:  # refused, reset, cut mid-stream, unparsable: the connection failed
        outcome.status = outcome.status or CONNECTION_FAILED  # a stream cut after its headers keeps its status
    finally:
        if sock is not None:
            sock.close()
    outcome.end_s = time.perf_counter()
    return outcome


def _request(target: Target, body: bytes, klass: str | None) -> bytes:
    named = f"X-Orchsim-Class: {quote(klass)}\r\n" if klass else ""  # any name, as ASCII
    return post_request(target.host, target.port, target.chat_path, body, named + target.header_lines())


def _read(response: HTTPSocketResponse, stream: bool, outcome: Outcome) -> None:
    outcome.status = response.status_code
    outcome.server_wait_s = seconds(response.get("x-orchsim-wait-s"))
    balancer_ms = seconds(response.get("x-orchsim-balancer-wait-ms"))  # HAProxy's queue at maxconn (%Tw)
    # a balancer's queue is part of the modelled wait: the request reached the modelled queues that much earlier
    outcome.server_arrived_s = seconds(response.get("x-orchsim-arrived-s")) - (
        0.0 if math.isnan(balancer_ms) else balancer_ms / 1000
    )
    if not math.isnan(balancer_ms):
        outcome.server_wait_s = balancer_ms / 1000 + (
            0.0 if math.isnan(outcome.server_wait_s) else outcome.server_wait_s
        )
    outcome.server_service_s = seconds(response.get("x-orchsim-service-s"))
    if stream and outcome.status == 200:
        _read_stream(response, outcome)
        return
    payload = response.read()
    outcome.length = len(payload)
    if outcome.status == 200:
        outcome.tokens = int(json.loads(payload).get("usage", {}).get("completion_tokens", 0))


def _read_stream(response: HTTPSocketResponse, outcome: Outcome) -> None:
    """SSE frames: TTFT at the first non-empty ``delta.content``; tokens from usage, else chunks."""
    chunks = 0
    while True:
        line = response.readline(b"\n")
        if not line:
            break
        outcome.length += len(line)
        frame = read_frame(line)
        if frame.error is not None:
            outcome.status = frame.error
        if frame.usage_tokens:
            outcome.tokens = frame.usage_tokens
        if frame.contents and math.isnan(outcome.first_token_s):
            outcome.first_token_s = time.perf_counter()
        chunks += frame.contents
    outcome.tokens = outcome.tokens or chunks
