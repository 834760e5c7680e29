"""HTTP conventions every mock application follows: ``x-request-id`` on every answer and OpenAI's
JSON error body for what the routes do not answer themselves (404 for an unknown path, 405).

``install(app)`` adds both to an aiohttp application before it starts.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from loadtest.mock.openai_api import error_response

__all__ = ["REQUEST_ID", "install", "request_id"]

REQUEST_ID = "x-request-id"
# a typed key where aiohttp has them (3.12+: a plain string key warns once per process, an error under
# pytest's filterwarnings, so the first request of a test process failed); a string before
_ID_KEY: Any = web.RequestKey("orchsim_request_id", str) if hasattr(web, "RequestKey") else "orchsim_request_id"
_GOOD_ID = re.compile(r"[!-~]{1,256}")  # visible ASCII, no spaces: echoed as the client sent it

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def request_id(request: web.Request) -> str:
    """The request's id: the client's ``x-request-id`` when it sent a sane one, else a new one."""
    known = request.get(_ID_KEY)
    if isinstance(known, str):
        return known
    sent = request.headers.get(REQUEST_ID, "")
    ident = sent if _GOOD_ID.fullmatch(sent) else f"req_{uuid.uuid4().hex}"
    request[_ID_KEY] = ident
    return ident


async def _stamp(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[REQUEST_ID] = request_id(request)


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        where = f"{request.method} {request.path}"
        if exc.status == 404:
            return error_response(404, f"Invalid URL ({where})")
        if exc.status == 405:
            allowed = exc.headers.get("Allow", "")
            return error_response(405, f"Method not allowed ({where}); allowed: {allowed}", headers={"Allow": allowed})
        return error_response(exc.status, f"{exc.reason} ({where})")


def install(app: web.Application) -> web.Application:
    """Add the request id and the JSON errors to ``app``; returns it."""
    app.middlewares.append(_json_errors)
    app.on_response_prepare.append(_stamp)
    return app
