"""Where the load generator sends: the mock, or a user's own OpenAI-compatible endpoint.

A target is a URL (``http://`` or ``https://``, with an optional base path: requests go to
``PATH/v1/chat/completions``; a path ending in ``/v1``, the OpenAI SDK's ``base_url`` form, means
the same), extra headers (``--header 'Authorization: Bearer ...'``, or from the environment:
``ORCHSIM_AUTH_TOKEN`` becomes ``Authorization: Bearer TOKEN``, ``ORCHSIM_HEADERS`` holds more,
one ``Name: value`` a line), the model every request names (``--model``: a real endpoint serves
its own) and how TLS is checked (the system's CAs, a ``--ca-file``, or ``--insecure``: none).
Header values are secrets: nothing here prints them, and ``repr`` shows their names only.
No gevent here: ``loadtest.attempt`` opens the connections.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["HEADERS_ENV", "TOKEN_ENV", "Target", "env_headers", "parse_header", "parse_target"]

TOKEN_ENV = "ORCHSIM_AUTH_TOKEN"
HEADERS_ENV = "ORCHSIM_HEADERS"
_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header name (RFC 9110 token)


@dataclass(frozen=True)
class Target:
    """An endpoint the load generator sends to (``headers``: extra header lines, values secret)."""

    host: str
    port: int
    tls: bool = False
    base_path: str = ""  # "" or "/prefix", without a trailing slash
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    model: str | None = None
    ca_file: str | None = None
    insecure: bool = False

    def __repr__(self) -> str:
        names = ", ".join(name for name, _ in self.headers)
        scheme = "https" if self.tls else "http"
        return f"Target({scheme}://{self.host}:{self.port}{self.base_path}, headers: [{names}], model={self.model!r})"

    @property
    def chat_path(self) -> str:
        return f"{self.base_path}/v1/chat/completions"

    def header_lines(self) -> str:
        """The extra headers as HTTP lines, each ending in CRLF."""
        return "".join(f"{name}: {value}\r\n" for name, value in self.headers)


def parse_header(text: str, where: str = "--header") -> tuple[str, str]:
    """``Name: value``; ValueError naming ``where`` (the value is never quoted back: it may be a secret)."""
    name, colon, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not colon or not _NAME.fullmatch(name):
        raise ValueError(f"{where}: expected 'Name: value' with a header name of letters, digits and -")
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"{where}: the value of header {name} holds a line break")
    return name, value


def env_headers(environ: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """Headers from the environment: ``ORCHSIM_HEADERS`` (a line each), then ``ORCHSIM_AUTH_TOKEN``."""
    env = os.environ if environ is None else environ
    lines = [line for line in env.get(HEADERS_ENV, "").splitlines() if line.strip()]
    headers = [parse_header(line, HEADERS_ENV) for line in lines]
    token = env.get(TOKEN_ENV, "").strip()
    if token:
        headers.append(parse_header(f"Authorization: Bearer {token}", TOKEN_ENV))
    return headers


def parse_target(
    url: str,
    headers: list[str] | None = None,
    model: str | None = None,
    ca_file: str | None = None,
    insecure: bool = False,
    environ: dict[str, str] | None = None,
) -> Target:
    """The target of ``url`` with ``headers`` (``Name: value`` each) after the environment's;
    ValueError naming the option at fault."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--host: expected an http:// or https:// URL with a host (got {url!r})")
    if parts.query or parts.fragment:
        raise ValueError(f"--host: a URL without ?query or #fragment (got {url!r})")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValueError(f"--host: bad port in {url!r}") from None
    if ca_file is not None and not os.path.isfile(ca_file):
        raise ValueError(f"--ca-file: no such file: {ca_file}")
    base = parts.path.rstrip("/")
    base = base.removesuffix("/v1")
    extra = env_headers(environ) + [parse_header(h) for h in headers or []]
    return Target(parts.hostname, port, parts.scheme == "https", base, tuple(extra), model or None, ca_file, insecure)
