"""The slice of OpenAI's API the mock serves: chat and text completion requests checked, their bodies
and SSE chunks written. Errors follow ``loadtest.errors`` (OpenAI's codes, 400 for a bad request)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from loadtest.errors import error_body
from sim.inputs.safe_input import InputLimitError, check_nesting

__all__ = [
    "MAX_BODY_BYTES",
    "SERVICE_U_KEY",
    "ChatRequest",
    "RequestError",
    "chunk",
    "completion",
    "error_frame",
    "error_response",
    "new_id",
    "parse_chat_request",
    "parse_json",
    "parse_text_request",
]

DEFAULT_MAX_TOKENS = 16
MAX_BODY_BYTES = 1_000_000  # default request body limit (orchsim serve --max-body)


class RequestError(Exception):
    """A bad request: HTTP status, the part of the request at fault, OpenAI's error code."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


@dataclass(frozen=True)
class ChatRequest:
    """What the mock needs from a chat (or, ``text``, a legacy text) completion request."""

    model: str  # "" when the request names none: any cluster may serve it
    stream: bool
    max_tokens: int
    include_usage: bool
    prompt_tokens: int
    service_u: float | None = None  # metadata.orchsim_service_u: the request's own service draw
    text: bool = False  # POST /v1/completions: choices carry ``text``, not a message


SERVICE_U_KEY = "orchsim_service_u"  # in OpenAI's ``metadata`` (a map of strings)


def error_response(
    status: int,
    message: str,
    param: str | None = None,
    headers: dict[str, str] | None = None,
    code: str | None = None,
) -> web.Response:
    """An error in OpenAI's body format."""
    return web.json_response(error_body(status, message, param, code), status=status, headers=headers)


def error_frame(status: int, message: str) -> bytes:
    """A failure after a stream began: an SSE ``data:`` frame with OpenAI's error body (inside a 200)."""
    return b"data: " + json.dumps(error_body(status, message)).encode() + b"\n\n"


def parse_json(raw: bytes, part: str | None = "body") -> Any:
    """``raw`` as JSON, within the nesting limit; RequestError (400) whose message names the body
    and whose ``param`` is ``part`` (OpenAI's API gives null for a request body that does not parse)."""
    try:
        value = json.loads(raw)
        check_nesting(value, "body")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"We could not parse the JSON body of your request: {exc}", part) from None
    except RecursionError:
        raise RequestError(400, "body is nested too deeply", part) from None
    except InputLimitError as exc:
        raise RequestError(400, str(exc), part) from None
    return value


def _object(raw: bytes) -> dict[str, Any]:
    body = parse_json(raw, None)
    if not isinstance(body, dict):
        raise RequestError(400, "The body of your request must be a JSON object", code="invalid_type")
    return body


def _request(body: dict[str, Any], prompt_tokens: int, text: bool) -> ChatRequest:
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise RequestError(400, "'stream_options' must be an object", "stream_options", "invalid_type")
    return ChatRequest(
        model=_field(body, "model", str, ""),
        stream=_field(body, "stream", bool, False),
        max_tokens=_positive(body),
        include_usage=bool((options or {}).get("include_usage", False)),
        prompt_tokens=prompt_tokens,
        service_u=_service_u(body),
        text=text,
    )


def parse_chat_request(raw: bytes) -> ChatRequest:
    """Validate a chat completion request body; RequestError names the part at fault."""
    body = _object(raw)
    messages = body.get("messages")
    if messages is None:
        raise RequestError(400, "Missing required parameter: 'messages'", "messages", "missing_required_parameter")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise RequestError(400, "'messages' must be a non-empty list of objects", "messages", "invalid_type")
    for i, message in enumerate(messages):
        if not isinstance(message.get("content", ""), (str, list)) or "role" not in message:
            raise RequestError(
                400, f"messages[{i}] needs a 'role' and a string 'content'", f"messages[{i}]", "invalid_value"
            )
    return _request(body, sum(len(str(m.get("content", "")).split()) for m in messages), text=False)


def parse_text_request(raw: bytes) -> ChatRequest:
    """Validate a (legacy) text completion request body: ``prompt`` a string, a list of strings or
    a list of token ids (a word or an id counts as a prompt token)."""
    body = _object(raw)
    prompt = body.get("prompt")
    if prompt is None:
        raise RequestError(400, "Missing required parameter: 'prompt'", "prompt", "missing_required_parameter")
    if isinstance(prompt, str):
        tokens = len(prompt.split())
    elif isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        tokens = sum(len(p.split()) for p in prompt)
    elif isinstance(prompt, list) and all(isinstance(p, int) and not isinstance(p, bool) for p in prompt):
        tokens = len(prompt)
    else:
        raise RequestError(
            400, "'prompt' must be a string, a list of strings or of token ids", "prompt", "invalid_type"
        )
    return _request(body, tokens, text=True)


def _service_u(body: dict[str, Any]) -> float | None:
    """The per-request service draw orchsim's load generator sends (scenario ``service_draws: per_request``)."""
    metadata = body.get("metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise RequestError(400, "'metadata' must be an object of strings", "metadata", "invalid_type")
    if SERVICE_U_KEY not in metadata:
        return None
    try:
        u = float(metadata[SERVICE_U_KEY])
    except ValueError:
        u = -1.0
    if not 0.0 <= u < 1.0:
        param = f"metadata.{SERVICE_U_KEY}"
        raise RequestError(400, f"'{param}' must be a number in [0, 1)", param, "invalid_value")
    return u


def _field(body: dict[str, Any], name: str, kind: type, default: Any) -> Any:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise RequestError(400, f"'{name}' must be a {kind.__name__}", name, "invalid_type")
    return value


def _positive(body: dict[str, Any]) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        if body.get(name) is not None:
            value = body[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise RequestError(400, f"'{name}' must be a positive integer", name, "invalid_value")
            return min(value, 4096)
    return DEFAULT_MAX_TOKENS


def _usage(request: ChatRequest, tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": request.prompt_tokens,
        "completion_tokens": tokens,
        "total_tokens": request.prompt_tokens + tokens,
    }


def new_id(request: ChatRequest) -> str:
    """A completion id: ``chatcmpl-...`` or (text) ``cmpl-...``."""
    return f"{'cmpl' if request.text else 'chatcmpl'}-{uuid.uuid4().hex[:24]}"


def completion(request: ChatRequest, text: str, tokens: int) -> dict[str, Any]:
    """A whole (non-streamed) chat or text completion."""
    if request.text:
        choice: dict[str, Any] = {"index": 0, "text": text, "logprobs": None, "finish_reason": "length"}
    else:
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}
    return {
        "id": new_id(request),
        "object": "text_completion" if request.text else "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "choices": [choice],
        "usage": _usage(request, tokens),
    }


def chunk(
    request: ChatRequest, ident: str, delta: dict[str, Any], finish: str | None = None, usage_tokens: int | None = None
) -> bytes:
    """One SSE ``data:`` frame of a streamed completion (``delta``: a chat delta; a text completion
    carries its ``content`` as ``text``)."""
    if request.text:
        choice = {"index": 0, "text": delta.get("content", ""), "logprobs": None, "finish_reason": finish}
    else:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
    body: dict[str, Any] = {
        "id": ident,
        "object": "text_completion" if request.text else "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.model,
        "choices": [choice],
    }
    if usage_tokens is not None:
        body["choices"] = []
        body["usage"] = _usage(request, usage_tokens)
    return b"data: " + json.dumps(body).encode() + b"\n\n"
