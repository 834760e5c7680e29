"""sim/engine/client.py alone: Clients on a Kernel with a scripted stand-in for the routing layer;
the exact send times of attempts (timeouts, retries, backoff, deadline, budget), the final answers and
the records, the closed loop and regenerated requests."""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.engine.attempt import Attempt
from sim.engine.client import Clients
from sim.engine.kernel import Kernel
from sim.engine.records import AttemptLog
from sim.rng import Draws, stream
from sim.scenario import Clients as ClientsSpec
from sim.workload.trace import Trace
from tests.engine_stubs import server_side_over

Answer = tuple[float, int] | None  # (delay s, code), or None: never answers


class Service:
    """The routing layer as the clients see it: answers each attempt as scripted (by request and attempt
    number; ``default`` otherwise), and notes every send and cancel."""

    def __init__(self, kernel: Kernel, default: Answer, script: dict[tuple[int, int], Answer] | None = None) -> None:
        self.kernel = kernel
        self.default = default
        self.script = script or {}
        self.sent: list[tuple[float, int, int]] = []  # (time, req, attempt number)
        self.cancels: list[tuple[float, int, int]] = []
        self.clients: Clients | None = None

    def submit(self, a: Attempt) -> None:
        self.sent.append((self.kernel.now, a.req, a.number))
        answer = self.script.get((a.req, a.number), self.default)
        if answer is not None:
            delay_s, code = answer
            self.kernel.call_later(delay_s, self._answer, (a, code))

    def _answer(self, arg: tuple[Attempt, int]) -> None:
        a, code = arg
        server_side_over(a)  # the server side ends, then the client hears it (as the model does)
        a.server_end_s = self.kernel.now
        assert self.clients is not None
        self.clients.answer(a, code)

    def release(self, a: Attempt) -> None:
        """Router slots are the router's business (tests/test_engine_router.py)."""

    def cancel(self, a: Attempt) -> None:
        self.cancels.append((self.kernel.now, a.req, a.number))


def clients(
    arrivals: list[float] | Trace, default: Answer, script: dict[tuple[int, int], Answer] | None = None, **spec: Any
) -> tuple[Kernel, Service, Clients, AttemptLog]:
    kernel = Kernel()
    service = Service(kernel, default, script)
    log = AttemptLog()
    trace = arrivals if isinstance(arrivals, Trace) else Trace.from_arrivals(arrivals)
    made = Clients(
        kernel,
        ClientsSpec(**spec),
        trace,
        Draws(stream(1, "test-clients")),
        service.submit,
        service.release,
        service.cancel,
        log,
    )
    service.clients = made
    made.start()
    return kernel, service, made, log


def final(c: Clients) -> list[tuple[int, float, int]]:
    """(code, end time, attempts) of each user request."""
    return [(c.code[i], round(c.end_s[i], 9), c.attempts[i]) for i in range(len(c.code))]


def test_each_attempt_times_out_after_its_own_timeout() -> None:
    kernel, service, c, _ = clients([0.0, 0.5, 0.6], default=None, timeout=0.8)
    kernel.run(10.0)
    assert service.sent == [(0.0, 0, 1), (0.5, 1, 1), (0.6, 2, 1)]
    assert final(c) == [(504, 0.8, 1), (504, 1.3, 1), (504, 1.4, 1)]
    assert service.cancels == []  # no cancel_on_timeout: the servers keep the work


def test_cancel_on_timeout_tells_the_service_at_the_timeout() -> None:
    kernel, service, c, _ = clients([0.0, 0.5], default=None, timeout=0.8, cancel_on_timeout=True)
    kernel.run(10.0)
    assert service.cancels == [(0.8, 0, 1), (1.3, 1, 1)]
    assert final(c) == [(504, 0.8, 1), (504, 1.3, 1)]


def test_an_answer_before_the_timeout_wins() -> None:
    kernel, service, c, log = clients([0.0], default=(0.3, 200), timeout=0.8)
    kernel.run(10.0)
    assert final(c) == [(200, 0.3, 1)] and service.sent == [(0.0, 0, 1)]
    records = log.to_numpy()
    assert records["code"].tolist() == [200] and records["end_s"].tolist() == [0.3]


def test_constant_backoff_retries_until_max_and_each_try_is_recorded() -> None:
    retries = {"max": 2, "backoff": "constant", "base": 1.0, "jitter": "none"}
    kernel, service, c, log = clients([0.0], default=(0.01, 500), retries=retries)
    kernel.run(10.0)
    # answered 500 at 0.01; retried 1.0 later, at 1.01, answered at 1.02; again at 2.02, 2.03: no more
    assert [(round(t, 9), n) for t, _, n in service.sent] == [(0.0, 1), (1.01, 2), (2.02, 3)]
    assert final(c) == [(500, 2.03, 3)]
    records = log.to_numpy()
    assert records["number"].tolist() == [1, 2, 3] and records["code"].tolist() == [500] * 3
    assert np.round(records["end_s"], 9).tolist() == [0.01, 1.02, 2.03]


def test_exponential_backoff_doubles_up_to_its_cap() -> None:
    retries = {"max": 4, "backoff": "exponential", "base": 0.5, "cap": 1.5, "jitter": "none"}
    kernel, service, c, _ = clients([0.0], default=(0.0, 503), retries=retries)
    kernel.run(20.0)
    # delays 0.5, 1.0, min(2.0, 1.5), min(4.0, 1.5) after instant 503s
    assert [t for t, _, _ in service.sent] == [0.0, 0.5, 1.5, 3.0, 4.5]
    assert final(c) == [(503, 4.5, 5)]


def test_a_timed_out_attempt_is_retried_and_the_retry_succeeds() -> None:
    retries = {"max": 1, "backoff": "none"}
    kernel, service, c, _ = clients([0.0], default=None, script={(0, 2): (0.2, 200)}, timeout=1.0, retries=retries)
    kernel.run(10.0)
    assert service.sent == [(0.0, 0, 1), (1.0, 0, 2)]
    assert final(c) == [(200, 1.2, 2)]


def test_no_retry_would_start_after_the_deadline() -> None:
    retries = {"max": 5, "backoff": "constant", "base": 1.0, "jitter": "none"}
    kernel, service, c, _ = clients([0.0], default=(0.0, 500), deadline=2.5, retries=retries)
    kernel.run(10.0)
    # tries at 0, 1, 2; a fourth would start at 3 >= 0 + 2.5: the request ends with the third's answer
    assert [t for t, _, _ in service.sent] == [0.0, 1.0, 2.0]
    assert final(c) == [(500, 2.0, 3)]


def test_only_the_listed_codes_are_retried() -> None:
    retries = {"max": 3, "backoff": "none", "on": [500]}
    script: dict[tuple[int, int], Answer] = {(1, 1): (0.0, 503)}
    kernel, service, c, _ = clients([0.0, 1.0], default=(0.0, 500), script=script, retries=retries)
    kernel.run(10.0)
    assert [(req, n) for _, req, n in service.sent] == [(0, 1), (0, 2), (0, 3), (0, 4), (1, 1)]
    assert final(c) == [(500, 0.0, 4), (503, 1.0, 1)]


def test_a_retry_budget_caps_the_retries_in_its_window() -> None:
    # ratio 0 and 0.1 retries/s over a 10 s window: one retry fits in any 10 s
    retries = {"max": 1, "backoff": "none", "budget": {"ratio": 0.0, "min_per_s": 0.1, "ttl": 10}}
    kernel, service, c, _ = clients([0.0, 1.0, 10.5], default=(0.0, 500), retries=retries)
    kernel.run(20.0)
    # request 0 spends the one retry at 0; request 1 at 1.0 finds none; by 10.5 the retry at 0 left the window
    assert [(t, req, n) for t, req, n in service.sent] == [
        (0.0, 0, 1),
        (0.0, 0, 2),
        (1.0, 1, 1),
        (10.5, 2, 1),
        (10.5, 2, 2),
    ]
    assert [n for _, _, n in final(c)] == [2, 1, 2]


def test_a_failed_request_is_asked_again_as_a_new_one() -> None:
    script: dict[tuple[int, int], Answer] = {(1, 1): (0.5, 200)}
    kernel, service, c, _ = clients(
        [0.0], default=(0.0, 503), script=script, regenerate={"probability": 1.0, "delay": 5.0}
    )
    kernel.run(20.0)
    assert list(c.arrival_s) == [0.0, 5.0] and list(c.origin) == [-1, 0]
    assert service.sent == [(0.0, 0, 1), (5.0, 1, 1)]
    assert final(c) == [(503, 0.0, 1), (200, 5.5, 1)]


def test_closed_loop_users_think_between_their_requests() -> None:
    pool = Trace(np.zeros(4), np.zeros(4, dtype=np.int32), np.arange(4), users=2, think_time_s=1.0, requests_per_user=2)
    kernel, service, c, _ = clients(pool, default=(0.5, 200))
    kernel.run(20.0)
    # both users send at 0, are answered at 0.5, think 1 s, send again at 1.5 (answered 2.0) and stop
    assert service.sent == [(0.0, 0, 1), (0.0, 1, 1), (1.5, 2, 1), (1.5, 3, 1)]
    assert final(c) == [(200, 0.5, 1), (200, 0.5, 1), (200, 2.0, 1), (200, 2.0, 1)]
    assert list(c.user) == [0, 1, 0, 1]
