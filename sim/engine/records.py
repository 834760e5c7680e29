"""Compact per-attempt records (typed columns, 64 bytes an attempt) and the result of a run."""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from sim.engine.attempt import Attempt
from sim.scenario import Scenario

__all__ = ["ATTEMPT_COLUMNS", "AttemptLog", "SimResult"]

ATTEMPT_COLUMNS = (
    "req",
    "number",
    "hop",
    "cluster",
    "server",
    "code",
    "sent_s",
    "start_s",
    "first_token_s",
    "end_s",
    "server_end_s",
)
INT_COLUMNS = 6  # the first six columns hold integers (int32)
# one row as written: native byte order, standard sizes, no padding (6 x 4 + 5 x 8 = 64 bytes)
ROW: Final = struct.Struct("=6i5d")
ROW_BYTES: Final = 64
ROW_DTYPE: Final = np.dtype([(name, "=i4" if i < INT_COLUMNS else "=f8") for i, name in enumerate(ATTEMPT_COLUMNS)])
if ROW.size != ROW_BYTES or ROW_DTYPE.itemsize != ROW_BYTES:
    raise ImportError("sim.engine.records: a row must take 64 bytes in struct and numpy alike")


class AttemptLog:
    """Rows of attempts, packed as written into a block of bytes, then into one typed column each.

    A row takes 64 bytes (six int32, five float64), written straight into the block by ``struct``
    (no tuple per row); a full block is split into the columns. ``to_numpy`` sorts one column at a
    time, freeing each packed column as its sorted copy is made, so the rows exist about once.
    """

    BLOCK = 4096  # rows held in the block before they are split into the columns (256 kB)

    def __init__(self) -> None:
        self._block = bytearray(ROW.size * self.BLOCK)
        self._used = 0  # rows written in the block
        self._columns: list[array[int] | array[float]] = [
            array("i") if i < INT_COLUMNS else array("d") for i in range(len(ATTEMPT_COLUMNS))
        ]
        self._rows = 0

    def append(self, a: Attempt) -> None:
        """Record ``a`` (called once both client and server are done with it, or at the end)."""
        self._write(a, a.code, a.end_s, a.server_end_s)

    def append_router_try(self, a: Attempt, code: int, now_s: float) -> None:
        """Record a try the router retried: it ended at ``now_s`` with ``code`` and the client never saw it."""
        self._write(a, code, now_s, now_s)

    def _write(self, a: Attempt, code: int, end_s: float, server_end_s: float) -> None:
        server = -1 if a.server is None else a.server.global_index
        used = self._used
        ROW.pack_into(
            self._block,
            used * ROW_BYTES,
            a.req,
            a.number,
            a.hop,
            a.cluster,
            server,
            code,
            a.sent_s,
            a.start_s,
            a.first_token_s,
            end_s,
            server_end_s,
        )
        used = self._used = used + 1
        if used >= self.BLOCK or (used + 1) * ROW_BYTES > len(self._block):
            self._pack()

    def _pack(self) -> None:
        used = self._used
        if not used:
            return
        rows = np.frombuffer(self._block, dtype=ROW_DTYPE, count=used)
        for column, name in zip(self._columns, ATTEMPT_COLUMNS, strict=True):
            column.frombytes(rows[name].tobytes())  # a strided field, copied out contiguous
        del rows  # the block is written again: no view of it may outlive the copies
        self._rows += used
        self._used = 0

    def __len__(self) -> int:
        return self._rows + self._used

    def to_numpy(self) -> dict[str, np.ndarray]:
        """Columns as numpy arrays (integers as int32), sorted by send time, request, attempt.

        The log is empty afterwards: its packed columns are freed as their sorted copies are made.
        """
        self._pack()
        columns, self._columns = self._columns, []
        index = {name: i for i, name in enumerate(ATTEMPT_COLUMNS)}

        def view(i: int) -> np.ndarray:
            return np.frombuffer(columns[i], dtype=np.int32 if i < INT_COLUMNS else np.float64)

        order = np.lexsort(tuple(view(index[n]) for n in ("hop", "number", "req", "sent_s")))
        out: dict[str, np.ndarray] = {}
        for i, name in enumerate(ATTEMPT_COLUMNS):
            out[name] = view(i)[order]
            columns[i] = array("b")  # the packed column is gone once its sorted copy exists
        self._rows = 0
        return out


@dataclass
class SimResult:
    """Everything a run produced; metrics, outputs and plots read only this."""

    scenario: Scenario
    seed: int
    arrival_s: np.ndarray
    klass: np.ndarray
    req_code: np.ndarray  # final code of each user request; 0 = still in flight at the end
    req_end_s: np.ndarray  # time of the final answer (NaN while in flight)
    req_attempts: np.ndarray
    req_origin: np.ndarray  # int32: -1, or for a regenerated request the failed request it repeats
    prompt_tokens: np.ndarray  # int32 per user request
    output_tokens: np.ndarray  # int32 per user request
    attempts: dict[str, np.ndarray]
    windows: dict[str, np.ndarray]
    end_s: float
    events: int
    wall_s: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)  # e.g. LLM preemptions
    class_names: tuple[str, ...] = ()  # request class of each ``klass`` index (a migrated twin: its class)

    @property
    def strategy(self) -> str:
        """Name of the server-choice strategy of this run."""
        return self.scenario.router.strategy
