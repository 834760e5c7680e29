"""Per-attempt records of a load test: one CSV row per attempt (workers' rows merged by the master).

Times are real seconds from the dispatcher's start (``t0``), *not* unscaled: the reader divides
by nothing and multiplies by the time scale to get simulated seconds. No locust or gevent here.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import numpy as np

from sim.output.outputs import write_atomic

__all__ = ["RECORD_COLUMNS", "Record", "column", "read_records", "records_path", "write_records"]


@dataclass
class Record:
    """One attempt of one user request (times in real seconds since the dispatcher started)."""

    req: int  # index of the user request in the scenario's trace
    attempt: int  # 1 = first attempt
    klass: int
    scheduled_s: float  # when the user request was due (open loop: whatever the server does)
    intended_s: float  # when this attempt was due: scheduled_s, or the end of the backoff for a retry
    send_s: float  # when it was actually sent (intended_s + dispatch lag)
    first_token_s: float  # first non-empty content chunk (NaN: none, or not streamed)
    end_s: float  # last byte, error, or client timeout (NaN: still in flight at the end)
    status: int  # HTTP status; 504 client timeout; 599 connection failed; 429 refused locally; 0 in flight
    tokens: int  # completion tokens received
    server_wait_s: float  # queueing wait: the backend's (X-Orchsim-Wait-S; NaN if not answered) and a
    # balancer queue's before it (HAProxy at maxconn: X-Orchsim-Balancer-Wait-Ms)
    server_service_s: float  # the backend's service time (X-Orchsim-Service-S; NaN if not answered)
    # when it reached the backend's queue (X-Orchsim-Arrived-S, before a balancer's queue), on the dispatcher's
    # clock: server_arrived_s - send_s is the way in (router, loopback, a late event loop); NaN if not reported
    server_arrived_s: float = math.nan

    @property
    def itl_s(self) -> float:
        """Inter-token latency: per token after the first (NaN with fewer than two tokens)."""
        if self.tokens < 2 or math.isnan(self.first_token_s):
            return math.nan
        return (self.end_s - self.first_token_s) / (self.tokens - 1)


RECORD_COLUMNS = tuple(f.name for f in fields(Record))
_INTS = {"req", "attempt", "klass", "status", "tokens"}


def records_path(csv_prefix: str | None, explicit: str | None) -> Path:
    """Where the merged records go: ``--records``, else next to locust's ``--csv`` files."""
    if explicit:
        return Path(explicit)
    return Path(f"{csv_prefix or 'orchsim'}_requests.csv")


def write_records(path: Path, records: Iterable[Record]) -> None:
    """Records as CSV (atomically), sorted by scheduled time, request, attempt; ITL added as a column."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*RECORD_COLUMNS, "itl_s"])
    for record in sorted(records, key=lambda r: (r.scheduled_s, r.req, r.attempt)):
        writer.writerow([_cell(v) for v in (*astuple(record), record.itl_s)])
    write_atomic(path, buffer.getvalue())


def _cell(value: float | int) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6f}"
    return str(value)


def read_records(path: Path) -> list[Record]:
    """Records from a CSV written by ``write_records``."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        Record(**{name: (int(row[name]) if name in _INTS else _float(row.get(name) or "")) for name in RECORD_COLUMNS})  # type: ignore[arg-type]
        for row in rows
    ]


def _float(text: str) -> float:
    return float(text) if text else math.nan


def column(records: list[Record], name: str) -> np.ndarray:
    """One column of ``records`` as a numpy array."""
    dtype = np.int64 if name in _INTS else np.float64
    return np.array([getattr(r, name) for r in records], dtype=dtype)
