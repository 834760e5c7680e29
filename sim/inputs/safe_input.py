"""Limits on what orchsim reads: file size, nesting depth and alias expansion, checked before the
data can cost much time or memory. Every limit exceeded is an ``InputLimitError`` naming the file
(or request part) and the limit, which callers turn into exit 2 or HTTP 400/413.

Only regular files are read: stdin (``-``, ``/dev/stdin``), FIFOs and devices are refused, since
their size is unknown before reading and a FIFO may never end.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_COUNT",
    "MAX_DATA_FILE_BYTES",
    "MAX_DEPTH",
    "MAX_FACTOR",
    "MAX_NODES",
    "MAX_RATE_RPS",
    "MAX_SCENARIO_BYTES",
    "MAX_SERVERS",
    "MAX_SLOTS",
    "MAX_TIME_S",
    "MAX_TOKENS",
    "InputLimitError",
    "check_nesting",
    "read_limited",
    "regular_file_size",
]

MAX_SCENARIO_BYTES = 1_000_000  # a scenario file; the largest shipped one is under 10 kB
MAX_DATA_FILE_BYTES = 200_000_000  # a trace or histogram CSV (~4 million trace rows)
MAX_DEPTH = 64  # nesting of mappings and lists; a scenario needs about 6
MAX_NODES = 200_000  # values after YAML aliases are expanded; a scenario has a few hundred

# field bounds no real system reaches: beyond them a scenario is a typo or an attack, and a run would
# hang, overflow or exhaust memory (servers: 100000000 hung; output_tokens: 1e12 overflowed an int32)
MAX_SERVERS = 100_000  # per cluster
MAX_SLOTS = 100_000  # per server
MAX_TOKENS = 10_000_000  # tokens in one prompt or answer
MAX_FACTOR = 1_000.0  # slowdown, surge, work and rate multipliers
MAX_RATE_RPS = 1_000_000.0  # arrivals per second
MAX_TIME_S = 10 * 365 * 86_400.0  # ten years, any time or duration in a scenario or trace
MAX_COUNT = 1_000_000_000  # sessions, queue places and other counts


class InputLimitError(ValueError):
    """An input beyond one of orchsim's limits; the message names the input and the limit."""


def regular_file_size(path: Path, limit_bytes: int) -> os.stat_result:
    """``path``'s stat when it is a regular file of at most ``limit_bytes``; InputLimitError otherwise
    (OSError when it cannot be read at all)."""
    if str(path) == "-":
        raise InputLimitError(f"{path}: reading standard input is not supported; give a file")
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a FIFO, device or socket"
        raise InputLimitError(f"{path}: not a regular file ({kind}); give a file")
    if info.st_size > limit_bytes:
        raise InputLimitError(f"{path}: {info.st_size} bytes, larger than the limit of {limit_bytes} bytes")
    return info


def read_limited(path: Path, limit_bytes: int) -> bytes:
    """The bytes of the regular file ``path``, refusing files over ``limit_bytes`` (also one that grows
    past it while being read)."""
    regular_file_size(path, limit_bytes)
    with path.open("rb") as handle:
        data = handle.read(limit_bytes + 1)
    if len(data) > limit_bytes:
        raise InputLimitError(f"{path}: larger than the limit of {limit_bytes} bytes")
    return data


def check_nesting(value: Any, label: str, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> None:
    """Refuse parsed data (dicts and lists) nested deeper than ``max_depth`` or holding more than
    ``max_nodes`` values, without recursion (so any depth is checked safely)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            raise InputLimitError(f"{label}: more than {max_nodes} values, the limit")
        if depth > max_depth:
            raise InputLimitError(f"{label}: nested deeper than {max_depth} levels, the limit")
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
