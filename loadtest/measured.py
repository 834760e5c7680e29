"""Measured records into the simulator's shape, so one metrics code reads both sides.

Load-test records are in real seconds; multiplying by the time scale gives simulated seconds.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from loadtest.records import Record, column
from sim.analysis.metrics import stats
from sim.analysis.summary import Stats
from sim.engine.records import SimResult
from sim.scenario import Scenario

__all__ = ["measured_result", "measured_ttft_s", "simulated_ttft_s", "with_network_delay"]


def measured_result(scenario: Scenario, seed: int, records: list[Record], time_scale: float) -> SimResult:
    """A ``SimResult`` built from per-attempt records (times unscaled to simulated seconds).

    A request's outcome is its last attempt; one still in flight (status 0) stays in flight. The
    queueing wait of an attempt is what the backend reported (unknown for attempts it never saw).
    Gauges the load test cannot see (queue depth, busy slots, healthy servers) are zero.
    """
    req = column(records, "req")
    reqs, position = np.unique(req, return_inverse=True)
    n = reqs.size
    attempt = column(records, "attempt")
    last = np.full(n, -1, dtype=np.int64)
    order = np.lexsort((attempt, position))
    last[position[order]] = order  # the last write per request is its highest attempt
    status = column(records, "status")
    end_s = column(records, "end_s") * time_scale
    send_s = column(records, "send_s") * time_scale
    arrival_s = np.zeros(n)
    arrival_s[position] = column(records, "scheduled_s") * time_scale
    klass = np.zeros(n, dtype=np.int32)
    klass[position] = column(records, "klass")
    attempts = {
        "req": position.astype(np.int64),
        "number": attempt,
        "hop": np.zeros(req.size, dtype=np.int64),
        "cluster": np.full(req.size, -1, dtype=np.int64),
        "server": np.full(req.size, -1, dtype=np.int64),
        "code": status,
        "sent_s": send_s,
        "start_s": send_s + column(records, "server_wait_s") * time_scale,
        "first_token_s": column(records, "first_token_s") * time_scale,
        "end_s": end_s,
        "server_end_s": end_s,
    }
    final_code = status[last]
    return SimResult(
        scenario=scenario,
        seed=seed,
        arrival_s=arrival_s,
        klass=klass,
        req_code=final_code,
        req_end_s=np.where(final_code == 0, np.nan, end_s[last]),
        req_attempts=np.bincount(position, minlength=n).astype(np.int64),
        req_origin=np.full(n, -1, dtype=np.int64),
        prompt_tokens=np.ones(n, dtype=np.int64),  # token counts are the mock's; only timings matter here
        output_tokens=np.ones(n, dtype=np.int64),
        attempts=attempts,
        windows=_empty_windows(scenario),
        end_s=scenario.duration,
        events=0,
    )


def _empty_windows(scenario: Scenario) -> dict[str, np.ndarray]:
    start = np.arange(0.0, scenario.duration, scenario.window)
    names = ("queue_depth", "busy_slots", "healthy_servers", "routable_servers", "ejected_servers", "router_in_flight")
    return {"start_s": start, **{name: np.zeros(start.size) for name in names}}


def _measured_window(scenario: Scenario, arrival_s: np.ndarray) -> np.ndarray:
    return (arrival_s >= scenario.warmup) & (arrival_s < scenario.duration)


def measured_ttft_s(scenario: Scenario, records: list[Record], time_scale: float) -> Stats:
    """TTFT of successful user requests: from when the request was due to the first content chunk."""
    ok = [r for r in records if r.status == 200 and not math.isnan(r.first_token_s)]
    due = np.array([r.scheduled_s for r in ok]) * time_scale
    first = np.array([r.first_token_s for r in ok]) * time_scale
    inside = _measured_window(scenario, due)
    return stats((first - due)[inside])


def simulated_ttft_s(result: SimResult, tokens: int, delay_s: float | np.ndarray = 0.0) -> Stats:
    """TTFT the mock would show for the simulated run: tokens are spread evenly over the service
    time (as the mock streams them), so the first one comes 1/tokens of the way through service;
    ``delay_s`` is the HTTP path's round trip (simulated seconds; one per request, or one for all)."""
    att = result.attempts
    ok = att["code"] == 200
    req = att["req"][ok]
    service_s = att["server_end_s"][ok] - att["start_s"][ok]
    extra_s = delay_s if np.isscalar(delay_s) else np.asarray(delay_s)[req]
    first_s = att["start_s"][ok] + service_s / max(tokens, 1) + extra_s
    arrival_s = result.arrival_s[req]
    inside = _measured_window(result.scenario, arrival_s)
    return stats((first_s - arrival_s)[inside])


def with_network_delay(result: SimResult, delay_s: float | np.ndarray) -> SimResult:
    """``result`` with every final answer ``delay_s`` later (the HTTP path's delay in simulated
    seconds: one per request, or one for all); queueing waits are left alone (the backend reports its own)."""
    return dataclasses.replace(result, req_end_s=result.req_end_s + delay_s)
