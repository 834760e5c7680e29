"""Clients: open-loop arrivals from the trace (or a closed loop of users), per-attempt timeouts, retries
with backoff.

Closed loop (``trace.users``): each user sends its first request at 0 and its next one
``think_time`` after the previous one finally ended (success or failure, after its retries), until
the end of the run; requests take the trace's pool in order. A request that ended the instant it
was sent (refused at once, no retries) holds its user ``FAIL_FAST_GAP_S`` before the next one, so
that a down service cannot spin the loop at one instant forever.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Callable

import numpy as np

from sim.control.retry import AdaptiveThrottle, Budget, TokenBucket, backoff_s
from sim.engine.attempt import ABANDONED, DONE, ENDED, NATIVE, Attempt
from sim.engine.kernel import Kernel
from sim.engine.records import AttemptLog
from sim.rng import Draws, retry_draws
from sim.scenario import Clients as ClientsSpec
from sim.workload.trace import Trace

__all__ = ["FAIL_FAST_GAP_S", "Clients"]

FAIL_FAST_GAP_S = 0.001  # closed loop: a user's pause after a request that failed the instant it was sent


class Clients:
    """Every user of the trace; tracks each user request until its final answer."""

    def __init__(
        self,
        kernel: Kernel,
        spec: ClientsSpec,
        trace: Trace,
        draws: Draws,
        submit: Callable[[Attempt], None],
        release: Callable[[Attempt], None],
        cancel: Callable[[Attempt], None],
        log: AttemptLog,
    ) -> None:
        self.kernel = kernel
        self.spec = spec
        self.timeout_s = spec.timeout
        self.deadline_s = spec.deadline
        self.policy = spec.retries
        self.retry_on = frozenset(spec.retries.on)
        # per-request columns are typed arrays (8 or 4 bytes a value), not lists of Python objects
        self.arrival_s = _floats(trace.arrival_s)
        self.klass = _ints(trace.klass, "i")
        # sessions matter only when the workload has them; otherwise the request id is the key
        self.session: array[int] | None = _ints(trace.session, "q") if trace.has_sessions else None
        self.class_work = trace.class_work
        self.service_u: array[float] | None = None if trace.service_u is None else _floats(trace.service_u)
        self.class_priority = trace.class_priorities
        assert trace.prompt_tokens is not None and trace.output_tokens is not None
        # a constant column stays one int: a million-request run need not hold a million of them
        self.prompt_tokens: array[int] | int = _column(trace.prompt_tokens)
        self.output_tokens: array[int] | int = _column(trace.output_tokens)
        self.users, self.think_time_s = trace.users, trace.think_time_s
        self.requests_per_user = trace.requests_per_user or 0  # 0: no limit
        self.sent_by_user: list[int] = []
        self.end_of_arrivals_s = float("inf")  # closed loop: no request is sent after this (the run's duration)
        self.user = array("q")  # closed loop: the user of each request (-1: a regenerated one)
        self.pool: _Pool | None = None
        if self.users is not None:
            self._open_pool(self.users)
        n = self.n_requests = len(self.arrival_s)
        self.code = array("i", bytes(4 * n))
        self.end_s = array("d", [float("nan")]) * n
        self.attempts = array("i", bytes(4 * n))
        self._backoff_s: dict[int, float] = {}  # last backoff of each request that was retried
        self.origin = array("i", [-1]) * n  # for a regenerated request, the failed request it repeats
        self.regenerate = spec.regenerate
        self.draws = draws
        self.budget = None if spec.retries.budget is None else Budget(spec.retries.budget)
        self.bucket = None if spec.retries.throttle is None else TokenBucket(spec.retries.throttle)
        self.adaptive = None if spec.adaptive_throttling is None else AdaptiveThrottle(spec.adaptive_throttling, draws)
        self.watching = self.bucket is not None or self.adaptive is not None  # throttles that learn from answers
        self._submit, self._release, self._cancel, self.log = submit, release, cancel, log
        self.unlogged: dict[Attempt, None] = {}  # sent attempts whose record is not written yet
        # attempts in the order sent, whose timeout may still come: with one timeout for all, their
        # deadlines come in that order too, so one queued event (for the oldest) watches them all
        self.expiring: deque[Attempt] = deque()
        # bound once, not at every arrival, timeout and retry (a bound method object each time)
        self._arrive_call: Callable[[int], None] = self._arrive
        self._timeout_call: Callable[[None], None] = self._timeout
        self._retry_call: Callable[[tuple[int, int]], None] = self._retry
        # what every attempt of this run shares lives on a per-run class, not stored per attempt; compiled
        # (mypyc), attributes are slots a subclass cannot default: each attempt stores them, the same values
        priorities = set(self.class_priority)
        self.per_class_priority = len(priorities) > 1 or NATIVE
        self.per_request_tokens = NATIVE or not (
            isinstance(self.prompt_tokens, int) and isinstance(self.output_tokens, int)
        )
        self.new_attempt = (
            Attempt
            if NATIVE
            else _attempt_class(
                priorities.pop() if len(priorities) == 1 else 0,
                self.prompt_tokens if isinstance(self.prompt_tokens, int) else 1,
                self.output_tokens if isinstance(self.output_tokens, int) else 1,
            )
        )

    def _open_pool(self, users: int) -> None:
        """Closed loop: keep the trace's columns as a pool and start with one request per user."""
        self.pool = _Pool(self.klass, self.session, self.prompt_tokens, self.output_tokens, self.service_u)
        self.arrival_s = self.arrival_s[:users]
        self.klass = self.klass[:users]
        self.session = None if self.session is None else self.session[:users]
        self.service_u = None if self.service_u is None else self.service_u[:users]
        if not isinstance(self.prompt_tokens, int):
            self.prompt_tokens = self.prompt_tokens[:users]
        if not isinstance(self.output_tokens, int):
            self.output_tokens = self.output_tokens[:users]
        self.user = array("q", range(users))
        self.sent_by_user = [1] * users

    def start(self) -> None:
        """Schedule the first arrival (closed loop: every user's first request, at 0)."""
        if self.pool is not None:
            for req in range(len(self.arrival_s)):
                self.kernel.call_at(self.arrival_s[req], self._arrive_again, req)
        elif self.arrival_s:
            self.kernel.call_arrival(self.arrival_s[0], self._arrive, 0)

    def _arrive(self, req: int) -> None:
        following = req + 1
        if following < self.n_requests:  # the trace's sorted column: beside the kernel's heap, not in it
            self.kernel.call_arrival(self.arrival_s[following], self._arrive_call, following)
        if self.budget is not None:
            self.budget.deposit(self.kernel.now)
        self._send(req, 1)

    def _retry(self, arg: tuple[int, int]) -> None:
        self._send(*arg)

    def _send(self, req: int, number: int) -> None:
        klass = self.klass[req]
        session = req if self.session is None else self.session[req]
        work, now = self.class_work[klass], self.kernel.now
        # compiled, the class itself: a direct call of its constructor (not one through an attribute)
        attempt = (
            Attempt(req, number, klass, session, work, now)
            if NATIVE
            else self.new_attempt(req, number, klass, session, work, now)
        )
        if self.per_class_priority:
            attempt.priority = self.class_priority[klass]
        if self.service_u is not None:
            attempt.service_u = self.service_u[req]
        if self.per_request_tokens:
            prompt, output = self.prompt_tokens, self.output_tokens
            if not isinstance(prompt, int):
                prompt = prompt[req]
            if not isinstance(output, int):
                output = output[req]
            attempt.prompt_tokens, attempt.output_tokens = prompt, output
            attempt.tokens = prompt + output
        self.attempts[req] = number
        self.unlogged[attempt] = None
        if self.adaptive is not None and self.adaptive.refuses(attempt.sent_s):
            attempt.state = ENDED  # refused by the client itself: never reaches the router
            attempt.server_end_s = attempt.sent_s
            self.answer(attempt, 429)
            return
        if self.timeout_s is not None:
            self.expiring.append(attempt)
            if len(self.expiring) == 1:
                self.kernel.call_at(attempt.sent_s + self.timeout_s, self._timeout_call, None)
        self._submit(attempt)

    def _timeout(self, _: None) -> None:
        """Time out every attempt due now that has no answer yet; wait for the oldest one still open."""
        expiring, now_s, timeout_s = self.expiring, self.kernel.now, self.timeout_s
        assert timeout_s is not None
        while expiring:
            attempt = expiring[0]
            state = attempt.state
            if state is not DONE and state is not ABANDONED:  # no answer yet
                due_s = attempt.sent_s + timeout_s
                if due_s > now_s:
                    self.kernel.call_at(due_s, self._timeout_call, None)
                    return
                self.answer(attempt, 504)
                if self.spec.cancel_on_timeout:
                    self._cancel(attempt)
            expiring.popleft()

    def answer(self, attempt: Attempt, code: int) -> None:
        """The client sees ``code`` for ``attempt`` (from the server side, or its own timeout): succeed, retry,
        or give up. The router slot it held is freed; the attempt is recorded once its server side is over too."""
        now = self.kernel.now
        attempt.end_s = now
        attempt.code = code
        self._release(attempt)  # the router frees the slot it held: ENDED_ROUTED -> ENDED, ROUTED -> SENT
        if attempt.state is ENDED:  # the server side is over (it answered, or a crash lost it): both are
            attempt.state = DONE
            del self.unlogged[attempt]
            self.log.append(attempt)
        else:  # its timeout answered: the server side still works on it
            attempt.state = ABANDONED
        req = attempt.req
        if self.watching and code != 429:
            self._learn(code, now)
        if code != 200 and self._may_retry(attempt.number, code, now):
            u = None if self.service_u is None else self.service_u[req]
            draws = retry_draws(self.draws, u, attempt.number)
            delay_s = backoff_s(self.policy, attempt.number, self._backoff_s.get(req, 0.0), draws)
            if self.deadline_s is None or now + delay_s < self.arrival_s[req] + self.deadline_s:
                self._backoff_s[req] = delay_s
                self.kernel.call_later(delay_s, self._retry_call, (req, attempt.number + 1))
                return
        self.code[req] = code
        self.end_s[req] = now
        if self._backoff_s:
            self._backoff_s.pop(req, None)  # its final answer: no further backoff to grow from
        if self.regenerate is not None and code != 200 and self.draws.uniform() < self.regenerate.probability:
            self._ask_again(req, now + self.regenerate.delay)
        if self.pool is not None and self.user[req] >= 0:
            self._next_of_user(req, now)

    def _next_of_user(self, req: int, now_s: float) -> None:
        """Closed loop: the user of ``req`` sends its next request (from the pool) after its think time."""
        gap_s = self.think_time_s if now_s > self.arrival_s[req] else max(self.think_time_s, FAIL_FAST_GAP_S)
        at_s = now_s + gap_s
        user = self.user[req]
        if at_s >= self.end_of_arrivals_s or self.pool is None or self.sent_by_user[user] == self.requests_per_user:
            return
        self.sent_by_user[user] += 1
        following = len(self.arrival_s)
        self._append(self.pool.at(following), at_s, -1, user)

    def _ask_again(self, req: int, at_s: float) -> None:
        """A new user request, like ``req``, arriving at ``at_s`` (it counts as offered load)."""
        self._append(self._columns(req), at_s, req, -1)

    def _columns(self, req: int) -> tuple[int, int | None, int, int, float | None]:
        """Class, session, prompt and answer tokens, service draw of request ``req``."""
        prompt, output = self.prompt_tokens, self.output_tokens
        return (
            self.klass[req],
            None if self.session is None else self.session[req],
            prompt if isinstance(prompt, int) else prompt[req],
            output if isinstance(output, int) else output[req],
            None if self.service_u is None else self.service_u[req],  # the same prompt: the same work
        )

    def _append(
        self, columns: tuple[int, int | None, int, int, float | None], at_s: float, origin: int, user: int
    ) -> None:
        """Add a user request with these columns, arriving at ``at_s``."""
        klass, session, prompt, output, service_u = columns
        again = len(self.arrival_s)
        self.arrival_s.append(at_s)
        self.klass.append(klass)
        if not isinstance(self.prompt_tokens, int):
            self.prompt_tokens.append(prompt)
        if not isinstance(self.output_tokens, int):
            self.output_tokens.append(output)
        if self.session is not None and session is not None:
            self.session.append(session)
        if self.service_u is not None and service_u is not None:
            self.service_u.append(service_u)
        self.code.append(0)
        self.end_s.append(float("nan"))
        self.attempts.append(0)
        self.origin.append(origin)
        if self.pool is not None:
            self.user.append(user)
        self.kernel.call_at(at_s, self._arrive_again, again)

    def _arrive_again(self, req: int) -> None:
        if self.budget is not None:
            self.budget.deposit(self.kernel.now)
        self._send(req, 1)

    def record(self, attempt: Attempt) -> None:
        """Write the record of ``attempt`` (its client and server are both done with it)."""
        del self.unlogged[attempt]
        self.log.append(attempt)

    def _learn(self, code: int, now_s: float) -> None:
        """Feed an answer from the service to the throttles that watch answers."""
        if self.bucket is not None and (code == 200 or code in self.retry_on):
            self.bucket.record(code == 200)
        if self.adaptive is not None:
            self.adaptive.record(now_s, code)

    def _may_retry(self, number: int, code: int, now_s: float) -> bool:
        if number > self.policy.max or code not in self.retry_on:
            return False
        if self.bucket is not None and not self.bucket.allows_retry():
            return False
        return self.budget is None or self.budget.withdraw(now_s)


class _Pool:
    """Closed loop: the trace's requests, handed out in order (cycling) as users send."""

    def __init__(
        self,
        klass: array[int],
        session: array[int] | None,
        prompt: array[int] | int,
        output: array[int] | int,
        service_u: array[float] | None,
    ) -> None:
        self.klass, self.session, self.prompt, self.output, self.service_u = klass, session, prompt, output, service_u
        self.size = len(klass)

    def at(self, index: int) -> tuple[int, int | None, int, int, float | None]:
        """The columns of the pool's request ``index`` (modulo its size)."""
        i = index % self.size
        return (
            self.klass[i],
            None if self.session is None else self.session[i],
            self.prompt if isinstance(self.prompt, int) else self.prompt[i],
            self.output if isinstance(self.output, int) else self.output[i],
            None if self.service_u is None else self.service_u[i],
        )


def _attempt_class(priority: int, prompt_tokens: int, output_tokens: int) -> type[Attempt]:
    """A class of attempts whose priority and token counts default to this run's constant ones (pure Python
    only: built with ``type``, as a compiled module may not define a class in a function)."""
    defaults = {
        "__doc__": "An attempt of one run: its priority and token counts default to the run's constant ones.",
        "priority": priority,
        "prompt_tokens": prompt_tokens,
        "output_tokens": output_tokens,
        "tokens": prompt_tokens + output_tokens,
    }
    run_attempt: type[Attempt] = type("RunAttempt", (Attempt,), defaults)
    return run_attempt


def _column(values: np.ndarray) -> array[int] | int:
    """Per-request token counts as a typed array, or one int when every request has the same."""
    if values.size and bool((values == values[0]).all()):
        return int(values[0])
    return _ints(values, "i")


def _ints(values: np.ndarray, code: str) -> array[int]:
    """``values`` as a typed array of C ints (``"i"``: 4 bytes) or long longs (``"q"``: 8 bytes)."""
    out = array(code)
    out.frombytes(np.ascontiguousarray(values, dtype=np.dtype(code)).tobytes())
    return out


def _floats(values: np.ndarray) -> array[float]:
    """``values`` as a typed array of doubles."""
    out = array("d")
    out.frombytes(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return out
