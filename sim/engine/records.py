"""Compact per-attempt records (typed columns, 64 bytes an attempt) and the result of a run."""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass, field

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


class AttemptLog:
    """Rows of attempts: tuples in a list (the cheapest append), packed into one typed column each.

    A packed row takes 64 bytes (six int32, five float64); ``to_numpy`` sorts one column at a time,
    freeing each packed column as its sorted copy is made, so the rows exist about once.
    """

    BLOCK = 4096  # rows held as tuples before packing (a few MB at most)

    def __init__(self) -> None:
        self._pending: list[tuple[float, ...]] = []
        self._columns: list[array[int] | array[float]] = [
            array("i") if i < INT_COLUMNS else array("d") for i in range(len(ATTEMPT_COLUMNS))
        ]
        self._rows = 0

    def append(self, a: Attempt) -> None:
        """Record ``a`` (called once both client and server are done with it, or at the end)."""
        server = -1 if a.server is None else a.server.global_index
        pending = self._pending
        pending.append(
            (
                a.req,
                a.number,
                a.hop,
                a.cluster,
                server,
                a.code,
                a.sent_s,
                a.start_s,
                a.first_token_s,
                a.end_s,
                a.server_end_s,
            )
        )
        if len(pending) >= self.BLOCK:
            self._pack()

    def append_router_try(self, a: Attempt, code: int, now_s: float) -> None:
        """Record a try the router retried: it ended at ``now_s`` with ``code`` and the client never saw it."""
        server = -1 if a.server is None else a.server.global_index
        row = (a.req, a.number, a.hop, a.cluster, server, code, a.sent_s, a.start_s, a.first_token_s, now_s, now_s)
        self._pending.append(row)

    def _pack(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        self._rows += len(pending)
        for column, values in zip(self._columns, zip(*pending, strict=True), strict=True):
            # packed by struct, a C int or double each (about ten times cheaper than the array's own extend)
            column.frombytes(struct.pack(f"{len(values)}{column.typecode}", *values))

    def __len__(self) -> int:
        return self._rows + len(self._pending)

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
