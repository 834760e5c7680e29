"""What goes over the wire to the mock, with no gevent: request bodies and the SSE frames read back.

Shared by the locust client (``loadtest.attempt``, on gevent sockets) and ``orchsim validate``'s
overhead probe (plain blocking sockets), so that both send and read requests alike.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

from loadtest.errors import error_status

__all__ = ["ADMIN_TOKEN_ENV", "Frame", "admin_headers", "chat_body", "post_request", "read_frame", "seconds"]

ADMIN_TOKEN_ENV = "ORCHSIM_ADMIN_TOKEN"  # when set, the mock's admin endpoints want it as a Bearer token


def admin_headers() -> dict[str, str]:
    """Headers of an admin request from orchsim itself: JSON, and the token when one is set."""
    token = os.environ.get(ADMIN_TOKEN_ENV)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def chat_body(
    model: str | None, stream: bool, max_tokens: int, service_u: float | None = None, prompt_words: int | None = None
) -> bytes:
    """A chat completion request body; streamed ones ask for the usage chunk. ``service_u``: the
    request's own service draw, sent in OpenAI's ``metadata`` (per-request service draws);
    ``prompt_words``: a prompt of that many words (the mock counts a word as a prompt token)."""
    content = "Say something." if prompt_words is None else " ".join(["w"] * max(prompt_words, 1))
    body: dict[str, object] = {
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "stream": stream,
    }
    if model:
        body["model"] = model
    if service_u is not None:
        body["metadata"] = {"orchsim_service_u": repr(float(service_u))}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body).encode()


@dataclass(frozen=True)
class Frame:
    """One SSE line's meaning: content chunks it carries, usage tokens, an error status."""

    contents: int = 0
    usage_tokens: int | None = None
    error: int | None = None


def read_frame(line: bytes) -> Frame:
    """The meaning of one SSE line (an empty ``Frame`` for blank lines, comments and ``[DONE]``)."""
    text = line.strip()
    if not text.startswith(b"data: ") or text == b"data: [DONE]":
        return Frame()
    frame = json.loads(text[6:])
    if frame.get("error"):  # a failure after the stream began (a crash): the request failed
        return Frame(error=error_status(frame["error"]))
    usage = frame.get("usage")
    choices = frame.get("choices") or []  # a chat delta's content, or a text completion's text
    contents = sum(1 for choice in choices if (choice.get("delta") or {}).get("content") or choice.get("text"))
    return Frame(contents, int(usage.get("completion_tokens", 0)) if usage else None)


def post_request(host: str, port: int, path: str, body: bytes, headers: str = "") -> bytes:
    """A whole ``POST`` of a JSON ``body`` on its own connection (``Connection: close``), as the load
    generator sends everything; ``headers``: more header lines, each ending in CRLF."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"{headers}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def seconds(value: object) -> float:
    """A timing header's seconds (``X-Orchsim-Wait-S``, ``X-Orchsim-Service-S``); NaN when missing or bad."""
    try:
        return float(value) if isinstance(value, str) else math.nan
    except ValueError:
        return math.nan
