"""What every mock server process shares: its command line, its limits, how it runs."""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import resource
import sys

from aiohttp import web

from loadtest.mock.guard import header_timeout_s
from loadtest.mock.openai_api import MAX_BODY_BYTES
from loadtest.mock.topology import PORT_IN_USE_EXIT

__all__ = ["quiet_gc", "raise_file_limit", "run_on_loopback", "server_parser"]


def raise_file_limit() -> int:
    """Raise this process's open-file limit to its hard limit (a proxy holds two sockets a request)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return int(target)
    return int(soft)


def quiet_gc() -> None:
    """Move start-up objects out of the collector's way and collect young objects less often:
    collections over a large heap are the long pauses in a proxy's tail latency."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def server_parser(description: str | None) -> argparse.ArgumentParser:
    """Arguments every mock server takes: the scenario, --port, --time-scale, --set, --max-body."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--max-body", type=int, default=MAX_BODY_BYTES)
    return parser


def run_on_loopback(app: web.Application, port: int) -> None:
    """Serve ``app`` on 127.0.0.1 until SIGINT/SIGTERM, with a raised file limit and a quieter GC.
    A port taken by another process is one line and exit ``PORT_IN_USE_EXIT`` (the topology may then
    start again on other ports)."""
    raise_file_limit()
    quiet_gc()
    try:
        web.run_app(
            app,
            host="127.0.0.1",
            port=port,
            print=None,
            access_log=None,
            handle_signals=True,
            loop=new_loop(),
            keepalive_timeout=header_timeout_s(),
        )
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(f"127.0.0.1:{port} is already in use", file=sys.stderr)
        raise SystemExit(PORT_IN_USE_EXIT) from None


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop where it is installed (POSIX): a fraction of asyncio's overhead per request."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop
