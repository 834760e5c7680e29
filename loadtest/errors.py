"""OpenAI's error conventions, shared by the mock (which writes them) and the load generator (which reads
them back), with no aiohttp or gevent here.

An error body is ``{"error": {"message", "type", "param", "code"}}``: ``type`` is OpenAI's class of
error (``invalid_request_error``, ``requests`` for a rate limit, ``server_error``) and ``code`` a
string naming the cause (``model_not_found``, ``rate_limit_exceeded``, ...) or null, never the HTTP
status. A stream that fails after it began ends with such a body in an SSE ``data:`` frame inside
its 200, so the reader maps the code back to a status (vLLM puts the status itself in ``code``:
a number is read as it is).
"""

from __future__ import annotations

from typing import Any

__all__ = ["CODE_STATUS", "error_body", "error_status", "error_type"]

# codes the mock gives for failures, and the HTTP status each stands for
CODE_STATUS = {
    "server_error": 500,
    "service_unavailable": 503,
    "timeout": 504,
    "rate_limit_exceeded": 429,
    "model_not_found": 404,
}


def error_type(status: int) -> str:
    """OpenAI's error ``type`` for an HTTP status."""
    if status == 429:
        return "requests"
    return "invalid_request_error" if 400 <= status < 500 else "server_error"


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """OpenAI's error body; ``code`` defaults to the cause a server-side status stands for (null for
    a client error without a more precise code)."""
    if code is None and status >= 500:
        code = {503: "service_unavailable", 504: "timeout"}.get(status, "server_error")
    return {"error": {"message": message, "type": error_type(status), "param": param, "code": code}}


def error_status(error: object) -> int:
    """The HTTP status an SSE error frame stands for: from its ``code`` (a number as it is, vLLM's
    way), else 500."""
    code = error.get("code") if isinstance(error, dict) else None
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    if isinstance(code, str):
        if code.isdigit():
            return int(code)
        return CODE_STATUS.get(code, 500)
    return 500
