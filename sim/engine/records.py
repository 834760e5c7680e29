"""Compact per-attempt records (typed arrays, ~90 bytes an attempt) and the result of a run."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.engine.kernel import Attempt
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
INT_COLUMNS = 6  # the first six columns hold integers


class AttemptLog:
    """Rows of attempts: tuples in a list (the cheapest append), packed into float64 blocks.

    A packed row is 88 bytes, so a million-request run stays small; integer columns are exact
    in float64.
    """

    BLOCK = 65536

    def __init__(self) -> None:
        self._pending: list[tuple[float, ...]] = []
        self._blocks: list[np.ndarray] = []

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
        if self._pending:
            self._blocks.append(np.array(self._pending, dtype=np.float64))
            self._pending = []

    def __len__(self) -> int:
        return sum(len(b) for b in self._blocks) + len(self._pending)

    def to_numpy(self) -> dict[str, np.ndarray]:
        """Columns as numpy arrays (integers as int64), sorted by send time, request, attempt."""
        self._pack()
        width = len(ATTEMPT_COLUMNS)
        table = np.concatenate(self._blocks) if self._blocks else np.empty((0, width))
        self._blocks = []  # the table below replaces them: one copy of the rows at a time
        index = {name: i for i, name in enumerate(ATTEMPT_COLUMNS)}
        order = np.lexsort(tuple(table[:, index[n]] for n in ("hop", "number", "req", "sent_s")))
        return {
            name: table[order, i].astype(np.int64) if i < INT_COLUMNS else table[order, i]
            for i, name in enumerate(ATTEMPT_COLUMNS)
        }


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
    req_origin: np.ndarray  # -1, or for a regenerated request the failed request it repeats
    prompt_tokens: np.ndarray  # int32 per user request
    output_tokens: np.ndarray  # int32 per user request
    attempts: dict[str, np.ndarray]
    windows: dict[str, np.ndarray]
    end_s: float
    events: int
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)  # e.g. LLM preemptions
    class_names: tuple[str, ...] = ()  # request class of each ``klass`` index (a migrated twin: its class)

    @property
    def strategy(self) -> str:
        """Name of the server-choice strategy of this run."""
        return self.scenario.router.strategy
