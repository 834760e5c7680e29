"""The slice of OpenAI's chat completions API the mock serves: request checks, bodies, SSE chunks."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

__all__ = [
    "MAX_BODY_BYTES",
    "SERVICE_U_KEY",
    "ChatRequest",
    "RequestError",
    "chunk",
    "completion",
    "error_body",
    "error_frame",
    "error_response",
    "parse_chat_request",
]

DEFAULT_MAX_TOKENS = 16
MAX_BODY_BYTES = 1_000_000  # default request body limit (orchsim serve --max-body)


class RequestError(Exception):
    """A bad request: HTTP status, OpenAI error type, the part of the request at fault."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param


@dataclass(frozen=True)
class ChatRequest:
    """What the mock needs from a chat completion request."""

    model: str  # "" when the request names none: any cluster may serve it
    stream: bool
    max_tokens: int
    include_usage: bool
    prompt_tokens: int
    service_u: float | None = None  # metadata.orchsim_service_u: the request's own service draw


SERVICE_U_KEY = "orchsim_service_u"  # in OpenAI's ``metadata`` (a map of strings)


def error_body(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error body; ``code`` carries the HTTP status as a string."""
    kind = {
        400: "invalid_request_error",
        404: "not_found_error",
        413: "invalid_request_error",
        422: "invalid_request_error",
        429: "rate_limit_error",
    }.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": str(status)}}


def error_response(
    status: int, message: str, param: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    """An error in OpenAI's body format."""
    return web.json_response(error_body(status, message, param), status=status, headers=headers)


def error_frame(status: int, message: str) -> bytes:
    """A failure after a stream began: an SSE ``data:`` frame with OpenAI's error body (inside a 200)."""
    return b"data: " + json.dumps(error_body(status, message)).encode() + b"\n\n"


def parse_chat_request(raw: bytes) -> ChatRequest:
    """Validate a request body; RequestError names the part at fault."""
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise RequestError(400, "body must be a JSON object")
    messages = body.get("messages")
    if messages is None:
        raise RequestError(400, "'messages' is required", "messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise RequestError(422, "'messages' must be a non-empty list of objects", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message.get("content", ""), (str, list)) or "role" not in message:
            raise RequestError(422, f"messages[{i}] needs a 'role' and a string 'content'", f"messages.{i}")
    return ChatRequest(
        model=_field(body, "model", str, ""),
        stream=_field(body, "stream", bool, False),
        max_tokens=_positive(body),
        include_usage=bool((body.get("stream_options") or {}).get("include_usage", False)),
        prompt_tokens=sum(len(str(m.get("content", "")).split()) for m in messages),
        service_u=_service_u(body),
    )


def _service_u(body: dict[str, Any]) -> float | None:
    """The per-request service draw orchsim's load generator sends (scenario ``service_draws: per_request``)."""
    metadata = body.get("metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise RequestError(422, "'metadata' must be an object of strings", "metadata")
    if SERVICE_U_KEY not in metadata:
        return None
    try:
        u = float(metadata[SERVICE_U_KEY])
    except ValueError:
        u = -1.0
    if not 0.0 <= u < 1.0:
        raise RequestError(422, f"'metadata.{SERVICE_U_KEY}' must be a number in [0, 1)", f"metadata.{SERVICE_U_KEY}")
    return u


def _field(body: dict[str, Any], name: str, kind: type, default: Any) -> Any:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise RequestError(422, f"'{name}' must be a {kind.__name__}", name)
    return value


def _positive(body: dict[str, Any]) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        if body.get(name) is not None:
            value = body[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise RequestError(422, f"'{name}' must be a positive integer", name)
            return min(value, 4096)
    return DEFAULT_MAX_TOKENS


def _usage(request: ChatRequest, tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": request.prompt_tokens,
        "completion_tokens": tokens,
        "total_tokens": request.prompt_tokens + tokens,
    }


def completion(request: ChatRequest, text: str, tokens: int) -> dict[str, Any]:
    """A whole (non-streamed) chat completion."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}],
        "usage": _usage(request, tokens),
    }


def chunk(
    request: ChatRequest, ident: str, delta: dict[str, Any], finish: str | None = None, usage_tokens: int | None = None
) -> bytes:
    """One SSE ``data:`` frame of a streamed completion."""
    body: dict[str, Any] = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage_tokens is not None:
        body["choices"] = []
        body["usage"] = _usage(request, usage_tokens)
    return b"data: " + json.dumps(body).encode() + b"\n\n"
