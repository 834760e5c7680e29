"""What every mock endpoint checks before its handler runs, against cross-site and rebinding attacks.

A web page the user visits can send requests to 127.0.0.1; the browser adds an ``Origin`` header to
cross-origin posts, and a DNS-rebinding page reaches the server under its own host name. So:

- ``Host`` must be a loopback name (localhost, 127.0.0.1, ::1) or the address the server is bound to,
  any port (421 otherwise; a request without Host, HTTP/1.0, passes);
- a request with an ``Origin`` header that is not the server's own (``http://`` + its Host) is
  refused (403): orchsim's clients never send one, browsers always do across sites;
- ``POST /admin/...`` must say ``Content-Type: application/json`` (415): a page can post text/plain
  without asking the browser's permission, never JSON;
- when ``ORCHSIM_ADMIN_TOKEN`` is set (``orchsim serve --admin-token``), admin requests must carry
  ``Authorization: Bearer TOKEN`` (401), so other users of a shared machine cannot inject faults.

It also reads bodies within bounds: a body nested deeper than ``MAX_DEPTH`` is a 400 naming it, one
not received within ``BODY_TIMEOUT_S`` a 408; a connection that has not sent a whole request head
within ``HEADER_TIMEOUT_S`` is closed (``header_timeout_s``: a slow-headers client held 900 sockets).
A client that goes away mid-answer is one line on stderr, not a traceback per process.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from loadtest.mock.openai_api import RequestError, error_response, parse_json
from loadtest.wire import ADMIN_TOKEN_ENV

__all__ = ["BODY_TIMEOUT_S", "HEADER_TIMEOUT_S", "guard", "header_timeout_s", "json_body", "read_body"]

HEADER_TIMEOUT_S = 10.0  # from connecting to a whole request head (and between keep-alive requests)
BODY_TIMEOUT_S = 30.0  # from the head to the whole body

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _host_allowed(host: str, request: web.Request) -> bool:
    try:
        name = urlsplit(f"//{host}").hostname
        urlsplit(f"//{host}").port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return False
    if name is None:
        return False
    if name in LOOPBACK_NAMES:
        return True
    sockname: Any = request.transport.get_extra_info("sockname") if request.transport is not None else None
    return isinstance(sockname, tuple) and name == str(sockname[0])


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The checks above, in order: Host, Origin, then the admin endpoints' content type and token."""
    host = request.headers.get("Host")
    if host is not None and not _host_allowed(host, request):
        return error_response(421, f"Host {host!r} is not this server: use a loopback name or its address", "Host")
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"http://{host}":
        return error_response(403, f"cross-origin request from {origin!r} refused", "Origin")
    if request.path.startswith("/admin/"):
        if request.method == "POST" and request.content_type != "application/json":
            shown = request.headers.get("Content-Type", "none")
            return error_response(415, f"admin requests must be application/json (got {shown})", "Content-Type")
        token = os.environ.get(ADMIN_TOKEN_ENV)
        given = request.headers.get("Authorization", "")
        if token and not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            message = f"admin requests need Authorization: Bearer and the token in ${ADMIN_TOKEN_ENV}"
            return error_response(401, message, "Authorization")
    try:
        return await handler(request)
    except ConnectionResetError as exc:  # the client left mid-answer: nothing to answer, nobody to tell
        print(f"orchsim mock: client went away during {request.method} {request.path} ({exc})", file=sys.stderr)
        return web.Response(status=499)  # never sent: finish_response finds the connection closed


def header_timeout_s() -> float:
    """The keepalive timeout of every mock listener: in aiohttp it also bounds the wait for the first
    request head, however slowly its bytes come."""
    return HEADER_TIMEOUT_S


async def read_body(request: web.Request, param: str | None = "body") -> bytes:
    """The whole body within ``BODY_TIMEOUT_S``; RequestError 408 (too slow) or 413 (too large) with
    ``param`` (OpenAI's API gives null for the chat body)."""
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            return await request.read()
    except TimeoutError:
        raise RequestError(408, f"body not received within {BODY_TIMEOUT_S:g} s", param) from None
    except web.HTTPRequestEntityTooLarge:
        raise RequestError(413, f"body larger than {request.client_max_size} bytes", param) from None


async def json_body(request: web.Request, part: str = "body") -> Any:
    """The request's JSON body (``{}`` when it has none); RequestError 400/413 naming ``part``."""
    if not request.can_read_body:
        return {}
    return parse_json(await read_body(request, part), part)
