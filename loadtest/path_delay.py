"""What the load generator and the HTTP path added around the backend's own wait and service, in the run,
given to the simulated side request by request.

The simulator predicts queueing waits, service, errors and retries; the measured latencies also hold
the load generator's dispatch lag and the round trip outside the backend (client, balancer or router,
network stack, an event loop being late). At low load that round trip is about constant (the probes
before the run measure it); on a busy machine it grows a tail of tens of milliseconds, which on a 10x
time scale is tenths of simulated seconds, and it comes in bursts: the first seconds of a run (processes
starting) and moments when another process takes the cores. Each measured successful attempt that
reports the backend's timing splits into:

- the way in: from when it was due to when it reached the backend's queue (dispatch lag, router,
  loopback, the mock's loop reading it; ``X-Orchsim-Arrived-S``). A late arrival shifts the
  server's whole schedule: the requests behind it wait longer. So the simulated request *arrives* that
  much later (the simulation runs on the measured arrivals at the backend), and its latency still counts
  from when it was due.
- the way out: from the end of its service to the client's last byte (or first token), added to the
  simulated answer.

Each simulated attempt takes the delays of the measured attempt of the same request and number (both
sides send the same trace), or, when that one has none (it failed, or the simulated request retried more
often), of the measured attempt due nearest in time: a burst of lateness lands on the requests it
touched, not spread at random over the run (a random draw gave every simulated request a share of the
start-up's 0.5-0.8 s and put the simulated p99 far above the measured one). The waits the backend
reports, and the model's own waits and service, are never changed: a wrong model still fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loadtest.overhead import HttpOverhead
from loadtest.records import Record, column
from sim.analysis.metrics import stats

__all__ = ["Delays"]


@dataclass(frozen=True)
class Delays:
    """Simulated seconds per usable measured attempt (``req``, ``attempt``, when it was ``due_s``): the
    way in (``inbound_s``: due to the backend's queue; 0 when the backend did not say when it got it),
    the way out to the answer (``answer_s``) and to the first token (``first_token_s``); or, when the
    run gave none (an endpoint that does not report its timing), the low-load probes' medians."""

    req: np.ndarray
    attempt: np.ndarray
    due_s: np.ndarray
    inbound_s: np.ndarray
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
        due, send = column(records, "intended_s"), column(records, "send_s")
        arrived = column(records, "server_arrived_s")
        arrived = np.where(np.isfinite(arrived), arrived, due)  # not reported: all of it counts on the way out
        backend_s = wait + service
        answer = column(records, "end_s") - arrived - backend_s
        first_token = column(records, "first_token_s") - arrived - wait - service / max(stream_tokens or 1, 1)
        usable &= np.isfinite(send) & np.isfinite(answer)
        if stream_tokens is not None:
            usable &= np.isfinite(first_token)
        order = np.argsort(due[usable], kind="stable")  # by when due: the nearest in time is a search away
        pick = np.flatnonzero(usable)[order]
        return cls(
            column(records, "req")[pick],
            column(records, "attempt")[pick],
            due[pick] * time_scale,
            (arrived - due)[pick] * time_scale,
            answer[pick] * time_scale,
            first_token[pick] * time_scale,
            probe_answer_s,
            first * time_scale,
        )

    @property
    def measured(self) -> bool:
        """True when the run's own attempts give the delays."""
        return self.answer_s.size > 0

    def _source(self, req: np.ndarray, attempt: np.ndarray, due_s: np.ndarray) -> np.ndarray:
        """Index of the measured attempt whose delays simulated attempt (``req``, ``attempt``) takes: the same
        one, else the one due nearest ``due_s`` (simulated seconds)."""
        width = int(max(self.attempt.max(initial=0), attempt.max(initial=0))) + 1
        keys = self.req * width + self.attempt
        by_key = np.argsort(keys, kind="stable")
        wanted = req * width + attempt
        at = np.clip(np.searchsorted(keys[by_key], wanted), 0, keys.size - 1)
        same = keys[by_key][at] == wanted
        after = np.clip(np.searchsorted(self.due_s, due_s), 1, self.due_s.size - 1) if self.due_s.size > 1 else None
        if after is None:
            nearest = np.zeros(req.size, dtype=np.int64)
        else:
            before_closer = np.abs(due_s - self.due_s[after - 1]) <= np.abs(self.due_s[after] - due_s)
            nearest = np.where(before_closer, after - 1, after)
        return np.where(same, by_key[at], nearest)

    def arrival_shift_s(self, arrival_s: np.ndarray) -> np.ndarray:
        """How much later than due each request of a trace (arrivals ``arrival_s``, simulated s, in trace
        order) reached the backend on its first attempt: its own measured way in (0 with nothing measured)."""
        if not self.measured:
            return np.zeros(arrival_s.size)
        reqs = np.arange(arrival_s.size)
        shift_s: np.ndarray = self.inbound_s[self._source(reqs, np.ones_like(reqs), arrival_s)]
        return shift_s

    def paired(self, attempts: np.ndarray, arrival_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(to the answer, to the first token) added to simulated requests of a trace (``attempts`` each,
        due at ``arrival_s``, in trace order) whose arrivals were shifted by ``arrival_shift_s``: the first
        attempt's way out, and each retry's way in and out (a retry starts after the client saw the failed
        attempt's answer, and the simulator sends it at once); the first token is the last attempt's."""
        count = attempts.size
        if not self.measured:
            return np.full(count, self.probe_answer_s), np.full(count, self.probe_first_token_s)
        tries = np.maximum(attempts, 1)
        req = np.repeat(np.arange(count), tries)
        last = np.cumsum(tries) - 1
        number = np.arange(req.size) - np.repeat(last - tries + 1, tries) + 1
        source = self._source(req, number, arrival_s[req])
        drawn = self.answer_s[source] + np.where(number > 1, self.inbound_s[source], 0.0)
        earlier = np.add.reduceat(drawn, last - tries + 1) - drawn[last]  # the failed attempts' delays
        first = self.first_token_s[source[last]] + np.where(tries > 1, self.inbound_s[source[last]], 0.0)
        return earlier + drawn[last], earlier + first

    def as_json(self, time_scale: float) -> dict[str, object]:
        """Their distribution in real seconds, for validation.json (``answer_real_s``: in and out together)."""
        if not self.measured:
            return {"measured_attempts": 0, "answer_real_s": None, "first_token_real_s": None}
        return {
            "measured_attempts": int(self.answer_s.size),
            "answer_real_s": stats((self.inbound_s + self.answer_s) / time_scale).to_dict(),
            "first_token_real_s": stats((self.inbound_s + self.first_token_s) / time_scale).to_dict()
            if np.isfinite(self.first_token_s).any()
            else None,
            "way_in_real_s": stats(self.inbound_s / time_scale).to_dict(),
            "way_out_real_s": stats(self.answer_s / time_scale).to_dict(),
        }
