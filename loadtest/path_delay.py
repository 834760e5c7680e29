"""What the load generator and the HTTP path add around the backend's own wait and service, in the run.

The simulator predicts queueing waits, service, errors and retries; the measured latencies also hold
the load generator's dispatch lag and the round trip outside the backend (client, balancer or router,
network stack, the backend's event loop being late). At low load that round trip is about constant
(the probes before the run measure it); on a busy machine it grows a tail of tens of milliseconds,
which on a 10x time scale is tenths of simulated seconds. So each measured successful attempt that
reports the backend's timing gives its own delay (lag + round trip - the backend's wait and service),
and each attempt of a simulated request draws one of them at random (a retried request waited for
every failed attempt's answer): the latency and TTFT rows then compare
the model plus the machine's delays as they were, while the wait rows compare the model alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loadtest.overhead import HttpOverhead
from loadtest.records import Record, column
from sim.analysis.metrics import stats
from sim.rng import Stream, stream

__all__ = ["Delays"]


@dataclass(frozen=True)
class Delays:
    """Simulated seconds added to each simulated request's answer and first token: one measured
    attempt's (``answer_s``/``first_token_s`` arrays), or the low-load probes' medians when the run
    gave none (an endpoint that does not report its timing)."""

    answer_s: np.ndarray
    first_token_s: np.ndarray
    probe_answer_s: float
    probe_first_token_s: float

    @classmethod
    def of_run(
        cls, records: list[Record], overhead: HttpOverhead, time_scale: float, stream_tokens: int | None
    ) -> Delays:
        """The delays of ``records`` (real seconds) in simulated seconds; ``stream_tokens`` per streamed answer."""
        probe_answer_s = overhead.answer_s * time_scale
        first = overhead.answer_s if overhead.first_token_s is None else overhead.first_token_s
        wait, service = column(records, "server_wait_s"), column(records, "server_service_s")
        usable = (column(records, "status") == 200) & np.isfinite(wait) & np.isfinite(service)
        send = column(records, "send_s")
        lag = send - column(records, "intended_s")
        answer = lag + column(records, "end_s") - send - wait - service
        first_token = lag + column(records, "first_token_s") - send - wait - service / max(stream_tokens or 1, 1)
        if stream_tokens is not None:
            usable &= np.isfinite(first_token)
        return cls(answer[usable] * time_scale, first_token[usable] * time_scale, probe_answer_s, first * time_scale)

    @property
    def measured(self) -> bool:
        """True when the run's own attempts give the delays."""
        return self.answer_s.size > 0

    def draw(self, attempts: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(to the answer, to the first token) for simulated requests of ``attempts`` attempts each, in the
        simulation of ``seed``: every attempt draws one measured attempt's delay (a retry starts after
        the client saw the failed attempt's answer); the first token is the last attempt's."""
        count = attempts.size
        if not self.measured:
            return np.full(count, self.probe_answer_s), np.full(count, self.probe_first_token_s)
        tries = np.maximum(attempts, 1)
        picks = stream(seed, Stream.PATH_DELAY).integers(0, self.answer_s.size, size=int(tries.sum()))
        last = np.cumsum(tries) - 1
        drawn = self.answer_s[picks]
        earlier = np.add.reduceat(drawn, last - tries + 1) - drawn[last]  # the failed attempts' delays
        first = self.first_token_s[picks[last]] if self.first_token_s.size else np.full(count, np.nan)
        return earlier + drawn[last], earlier + first

    def as_json(self, time_scale: float) -> dict[str, object]:
        """Their distribution in real seconds, for validation.json."""
        return {
            "measured_attempts": int(self.answer_s.size),
            "answer_real_s": stats(self.answer_s / time_scale).to_dict() if self.measured else None,
            "first_token_real_s": stats(self.first_token_s / time_scale).to_dict() if self.first_token_s.size else None,
        }
