"""Data files a scenario names: token histograms and request traces, read once and checked row by row.

A scenario's file paths are relative to the scenario file's folder (``context={"base_dir": ...}``
when validating), else to the working directory. Every problem is a ``ValueError`` naming the file
and line, which scenario validation turns into a ``FILE: field: message`` line.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from sim.inputs.safe_input import MAX_COUNT, MAX_DATA_FILE_BYTES, MAX_TIME_S, MAX_TOKENS, regular_file_size

__all__ = ["Histogram", "TraceRows", "read_histogram", "read_trace", "resolve"]


@dataclass(frozen=True)
class Histogram:
    """An empirical token-count distribution: counts and their probabilities."""

    tokens: np.ndarray  # int64
    probability: np.ndarray  # float64, sums to 1


@dataclass(frozen=True)
class TraceRows:
    """A recorded request trace, sorted by time."""

    time_s: np.ndarray  # float64
    key: tuple[str, ...]  # class or model name per row
    prompt_tokens: np.ndarray  # int64
    output_tokens: np.ndarray  # int64
    session: np.ndarray | None  # int64, or None when the file has no session column


def resolve(file: str, context: Any) -> Path:
    """``file`` relative to the scenario's folder (from the validation context) or the working directory."""
    path = Path(file)
    base = context.get("base_dir") if isinstance(context, dict) else None
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return path.resolve()


def read_histogram(path: Path) -> Histogram:
    """Read a ``tokens,weight`` CSV (header optional)."""
    return _read_histogram(path, _mtime(path))


def read_trace(path: Path) -> TraceRows:
    """Read a ``time_s,class,prompt_tokens,output_tokens[,session]`` CSV (header required)."""
    return _read_trace(path, _mtime(path))


def _mtime(path: Path) -> float:
    """When ``path`` last changed (the cache key); ValueError unless it is a readable regular file within
    the size limit."""
    try:
        return regular_file_size(path, MAX_DATA_FILE_BYTES).st_mtime
    except OSError as exc:
        raise ValueError(f"cannot read {path} ({exc.strerror or exc})") from None


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return [
                (n, row) for n, row in enumerate(csv.reader(handle), start=1) if row and any(c.strip() for c in row)
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"cannot read {path} ({exc})") from None


_COLUMN_MAX: dict[str, float] = {"tokens": MAX_TOKENS, "prompt_tokens": MAX_TOKENS, "output_tokens": MAX_TOKENS}
_COLUMN_MAX |= {"time_s": MAX_TIME_S, "session": MAX_COUNT, "weight": 1e300}


def _number(text: str, path: Path, line: int, column: str, *, integer: bool) -> float:
    try:
        value = int(text) if integer and len(text) < 20 else float(text)  # long digit strings cost no time
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ValueError(f"{path.name} line {line}: {column} must be {kind} (got {_short(text)})") from None
    if not math.isfinite(value) or value < 0 or (integer and value == 0):
        raise ValueError(
            f"{path.name} line {line}: {column} must be {'positive' if integer else '>= 0'} (got {_short(text)})"
        )
    if value > _COLUMN_MAX[column]:
        raise ValueError(
            f"{path.name} line {line}: {column} must be at most {_COLUMN_MAX[column]:g} (got {_short(text)})"
        )
    return value


def _short(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:37] + "...")


@lru_cache(maxsize=32)
def _read_histogram(path: Path, mtime: float) -> Histogram:
    rows = _rows(path)
    if rows and not rows[0][1][0].strip().lstrip("-").replace(".", "", 1).isdigit():
        rows = rows[1:]  # a header
    tokens, weights = [], []
    for line, row in rows:
        if len(row) != 2:
            raise ValueError(f"{path.name} line {line}: expected 2 columns tokens,weight (got {len(row)})")
        tokens.append(int(_number(row[0].strip(), path, line, "tokens", integer=True)))
        weights.append(_number(row[1].strip(), path, line, "weight", integer=False))
    total = sum(weights)
    if not tokens or total <= 0:
        raise ValueError(f"{path.name}: needs at least one row with a positive weight")
    return Histogram(np.array(tokens, dtype=np.int64), np.array(weights, dtype=np.float64) / total)


_TRACE_COLUMNS = ("time_s", "class", "prompt_tokens", "output_tokens")


@lru_cache(maxsize=8)
def _read_trace(path: Path, mtime: float) -> TraceRows:
    rows = _rows(path)
    if not rows:
        raise ValueError(f"{path.name}: empty trace")
    header = [c.strip() for c in rows[0][1]]
    if header[:4] != list(_TRACE_COLUMNS) or len(header) not in (4, 5) or header[4:] not in ([], ["session"]):
        raise ValueError(
            f"{path.name} line 1: header must be {','.join(_TRACE_COLUMNS)}[,session] (got {','.join(header)})"
        )
    width = len(header)
    times, keys, prompts, outputs, sessions = [], [], [], [], []
    for line, row in rows[1:]:
        if len(row) != width:
            raise ValueError(f"{path.name} line {line}: expected {width} columns (got {len(row)})")
        times.append(_number(row[0].strip(), path, line, "time_s", integer=False))
        key = row[1].strip()
        if not key:
            raise ValueError(f"{path.name} line {line}: class must not be empty")
        keys.append(key)
        prompts.append(int(_number(row[2].strip(), path, line, "prompt_tokens", integer=True)))
        outputs.append(int(_number(row[3].strip(), path, line, "output_tokens", integer=True)))
        if width == 5:
            sessions.append(int(_number(row[4].strip(), path, line, "session", integer=False)))
    if not times:
        raise ValueError(f"{path.name}: the trace has a header but no requests")
    order = np.argsort(np.array(times), kind="stable")
    return TraceRows(
        time_s=np.array(times, dtype=np.float64)[order],
        key=tuple(keys[i] for i in order),
        prompt_tokens=np.array(prompts, dtype=np.int64)[order],
        output_tokens=np.array(outputs, dtype=np.int64)[order],
        session=np.array(sessions, dtype=np.int64)[order] if sessions else None,
    )
