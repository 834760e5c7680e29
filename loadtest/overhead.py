"""The HTTP path's fixed overhead, measured at low load before the run, the way the run sends.

One request at a time over a fresh connection (as the load generator sends, ``Connection: close``),
streamed when the run streams: the backend reports its queueing wait and service time in headers,
and what is left of the latency is the client, the router and two hops over loopback. A streamed
answer's first token has its own overhead (the backend sends it 1/tokens of the way through the
service): that one is what the simulated TTFT gets. A plain JSON answer costs the mock more than a
stream (4.6 against 3.3 ms median on this machine), so measuring one for the other overstated it.
"""

from __future__ import annotations

import math
import statistics
import time
import urllib.request
from dataclasses import dataclass

from loadtest.wire import chat_body, read_frame, seconds

__all__ = ["HttpOverhead", "measure_overhead"]


@dataclass(frozen=True)
class HttpOverhead:
    """Median real seconds outside the backend: to the whole answer, and (streams) to the first token;
    ``samples``: the answers that reported the backend's timing (0: no overhead could be measured)."""

    answer_s: float
    first_token_s: float | None
    samples: int


def measure_overhead(url: str, samples: int, max_tokens: int, stream: bool) -> HttpOverhead:
    """``samples`` requests one after the other to ``url``; medians of what the backend did not spend."""
    answers: list[float] = []
    firsts: list[float] = []
    for _ in range(samples):
        try:
            answer, first = _one(url, max_tokens, stream)
        except (OSError, ValueError):  # refused, an HTTP error status, a broken stream: not a sample
            continue
        if answer is not None:
            answers.append(answer)
        if first is not None:
            firsts.append(first)
    return HttpOverhead(_median(answers) or 0.0, _median(firsts) if stream else None, len(answers))


def _median(values: list[float]) -> float | None:
    return max(0.0, statistics.median(values)) if values else None


def _one(url: str, max_tokens: int, stream: bool) -> tuple[float | None, float | None]:
    """One request's overhead to its answer and to its first token (None where it has none)."""
    request = urllib.request.Request(
        f"{url}/v1/chat/completions", data=chat_body(None, stream, max_tokens), method="POST"
    )
    request.add_header("Content-Type", "application/json")
    request.add_header("Connection", "close")
    first_s = math.nan
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as answer:
        if stream:
            for line in answer:
                if math.isnan(first_s) and read_frame(line).contents:
                    first_s = time.perf_counter() - started
        else:
            answer.read()
        answer_s = time.perf_counter() - started
        wait = seconds(answer.headers.get("X-Orchsim-Wait-S"))
        service = seconds(answer.headers.get("X-Orchsim-Service-S"))
    if math.isnan(wait) or math.isnan(service):
        return None, None
    first = None if math.isnan(first_s) else first_s - wait - service / max_tokens
    return answer_s - wait - service, first
