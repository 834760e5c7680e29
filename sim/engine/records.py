"""Compact per-attempt records (typed arrays, ~70 bytes an attempt) and the result of a run."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np

from sim.engine.kernel import Attempt
from sim.scenario import Scenario

__all__ = ["ATTEMPT_COLUMNS", "AttemptLog", "SimResult"]

ATTEMPT_COLUMNS = ("req", "number", "cluster", "server", "code", "sent_s", "start_s", "end_s", "server_end_s")


class AttemptLog:
    """Append-only columns, one row per attempt; numpy arrays on demand."""

    def __init__(self) -> None:
        self.req = array("q")
        self.number = array("l")
        self.cluster = array("l")
        self.server = array("l")
        self.code = array("l")
        self.sent_s = array("d")
        self.start_s = array("d")
        self.end_s = array("d")
        self.server_end_s = array("d")

    def append(self, a: Attempt) -> None:
        """Record ``a`` (called once both client and server are done with it, or at the end)."""
        self.req.append(a.req)
        self.number.append(a.number)
        self.cluster.append(a.cluster)
        self.server.append(-1 if a.server is None else a.server.global_index)
        self.code.append(a.code)
        self.sent_s.append(a.sent_s)
        self.start_s.append(a.start_s)
        self.end_s.append(a.end_s)
        self.server_end_s.append(a.server_end_s)

    def to_numpy(self) -> dict[str, np.ndarray]:
        """Columns as numpy arrays, sorted by send time then request."""
        cols: dict[str, np.ndarray] = {
            name: np.frombuffer(getattr(self, name), dtype=_dtype(name)).copy() for name in ATTEMPT_COLUMNS
        }
        order = np.lexsort((cols["number"], cols["req"], cols["sent_s"]))
        return {name: col[order] for name, col in cols.items()}


def _dtype(name: str) -> type:
    typecode = {"req": "q", "number": "l", "cluster": "l", "server": "l", "code": "l"}.get(name, "d")
    return np.dtype(typecode).type


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
    attempts: dict[str, np.ndarray]
    windows: dict[str, np.ndarray]
    end_s: float
    events: int
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def strategy(self) -> str:
        """Name of the server-choice strategy of this run."""
        return self.scenario.router.strategy
