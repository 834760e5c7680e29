"""Open-loop dispatch of a scenario's trace against the mock service, with the scenario's client policy.

Arrivals are the simulator's own trace (``sim.workload.trace.generate_trace``, same scenario and seed),
divided by the time scale. Each user request is a greenlet spawned at its scheduled time whatever
the server does; latency counts from that time, so a slow server cannot slow the arrivals down
(no coordinated omission). Retries use the simulator's backoff, jitter, budget and throttles.
Runs in the locust process (gevent); it does not import locust itself.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import gevent
import numpy as np
from gevent.pool import Group

from loadtest.attempt import Outcome, send, tls_context
from loadtest.mock.injection import planned_injections
from loadtest.records import Record
from loadtest.target import Target
from loadtest.wire import admin_headers, chat_body, post_request
from sim.control.retry import AdaptiveThrottle, Budget, TokenBucket, backoff_s
from sim.rng import Draws, Stream, retry_draws, stream
from sim.scenario import Scenario
from sim.workload.trace import generate_trace

__all__ = ["Dispatcher", "LoadPlan"]

PROBE_GUARD_S = 0.005  # real seconds the probe clock trails the faults: a fault due at a probe's instant comes first
FAULT_LEAD_S = 0.5  # real seconds ahead of its time a fault is posted (it starts when due, not when it arrives)


@dataclass(frozen=True)
class LoadPlan:
    """What to send: the scenario, its time scale, and this worker's share of the trace."""

    scenario: Scenario
    time_scale: float
    seed: int
    stream: bool = False
    max_tokens: int = 8
    shard: int = 0
    shards: int = 1
    inject_faults: bool = False  # play the scenario's faults through /admin/faults (shard 0 only)
    admin_url: str = ""  # where /admin/faults and /admin/clock go ("": the host under load)

    def __post_init__(self) -> None:
        if not self.time_scale > 0:
            raise ValueError(f'"time_scale" must be > 0 (got {self.time_scale}).')
        if not 0 <= self.shard < self.shards:
            raise ValueError(f'"shard" must be in 0..{self.shards - 1} (got {self.shard}).')


Report = Callable[[Record, int], None]  # a finished attempt and its response size in bytes


class Dispatcher:
    """Sends this shard's requests of the trace on schedule; ``records`` grows as attempts start."""

    def __init__(self, plan: LoadPlan, target: Target, report: Report) -> None:
        self.plan, self.target, self.report = plan, target, report
        self.host, self.port = target.host, target.port
        self.tls = tls_context(target)
        admin = urlsplit(plan.admin_url) if plan.admin_url else None
        self.admin = (admin.hostname or self.host, admin.port or self.port) if admin else (self.host, self.port)
        trace = generate_trace(plan.scenario, plan.seed)
        self.req = np.arange(len(trace))[plan.shard :: plan.shards]
        self.due_s = trace.arrival_s[plan.shard :: plan.shards] / plan.time_scale
        self.klass = trace.klass[plan.shard :: plan.shards]
        self.class_names = trace.class_names
        self.models = [target.model or model for model in trace.class_models]  # --model: every request's
        self.bodies = [chat_body(model, plan.stream, plan.max_tokens) for model in self.models]
        self.service_u = None if trace.service_u is None else trace.service_u[plan.shard :: plan.shards]
        # the LLM token model: each request's own prompt and answer lengths (a prompt word is a token)
        tokens = any(c.service.kind == "llm" for c in plan.scenario.clusters)
        prompt, output = trace.prompt_tokens, trace.output_tokens
        self.prompt_tokens = prompt[plan.shard :: plan.shards] if tokens and prompt is not None else None
        self.output_tokens = output[plan.shard :: plan.shards] if tokens and output is not None else None
        clients = plan.scenario.clients
        self.timeout_s = None if clients.timeout is None else clients.timeout / plan.time_scale
        self.draws = Draws(stream(plan.seed, Stream.LOCUST_CLIENTS, plan.shard))
        self.budget = None if clients.retries.budget is None else Budget(clients.retries.budget)
        self.bucket = None if clients.retries.throttle is None else TokenBucket(clients.retries.throttle)
        throttling = clients.adaptive_throttling
        self.adaptive = None if throttling is None else AdaptiveThrottle(throttling, self.draws)
        self.records: list[Record] = []
        self.group = Group()
        self.t0 = time.perf_counter()
        self.t0_monotonic = time.monotonic()  # the same instant on the clock the mock shares

    @property
    def planned(self) -> int:
        """User requests this shard sends."""
        return int(self.req.size)

    def now_s(self) -> float:
        """Real seconds since the start."""
        return time.perf_counter() - self.t0

    def sim_now_s(self) -> float:
        """Simulated seconds since the start (real seconds x time scale)."""
        return self.now_s() * self.plan.time_scale

    def run(self) -> None:
        """Dispatch every request on schedule, then wait for the last answers."""
        self.t0 = time.perf_counter()
        self.t0_monotonic = time.monotonic()
        if self.plan.inject_faults and self.plan.shard == 0:
            # health probes on this clock too, just after the grid: the simulator applies a fault due
            # at a probe's instant before the probe, so the mock's probes trail the faults' posts
            epoch = {"epoch_monotonic_s": self.t0_monotonic + PROBE_GUARD_S}
            gevent.spawn(_post_admin, *self.admin, "/admin/clock", epoch)
            self._schedule_faults()
        for i in range(self.planned):
            gevent.sleep(max(0.0, float(self.due_s[i]) - self.now_s()))
            self.group.spawn(self._user_request, i)
        self.group.join()

    def stop(self) -> None:
        """Abandon what is in flight (its records keep status 0)."""
        self.group.kill(block=False)

    def dispatch_lag_s(self) -> np.ndarray:
        """Per sent attempt, how late it left compared with when it was due (real seconds)."""
        lags = [r.send_s - r.intended_s for r in self.records if not math.isnan(r.send_s)]
        return np.array(lags, dtype=np.float64)

    def body(self, i: int) -> bytes:
        """The body of this shard's request ``i``: its class's model, its own service draw (per-request
        draws) and, for the LLM token model, its own prompt and answer lengths."""
        klass = int(self.klass[i])
        if self.service_u is None and self.prompt_tokens is None:
            return self.bodies[klass]
        u = None if self.service_u is None else float(self.service_u[i])
        if self.prompt_tokens is None or self.output_tokens is None:
            return chat_body(self.models[klass], self.plan.stream, self.plan.max_tokens, u)
        output, prompt = int(self.output_tokens[i]), int(self.prompt_tokens[i])
        return chat_body(self.models[klass], self.plan.stream, output, u, prompt)

    def _user_request(self, i: int) -> None:
        req, klass, due_s = int(self.req[i]), int(self.klass[i]), float(self.due_s[i])
        policy = self.plan.scenario.clients.retries
        if self.budget is not None:
            self.budget.deposit(self.sim_now_s())
        intended_s, number, previous_s = due_s, 1, 0.0
        body = self.body(i)
        while True:
            record = self._attempt(req, klass, body, due_s, intended_s, number)
            if record.status == 200 or not self._may_retry(number, record.status):
                return
            u = None if self.service_u is None else float(self.service_u[i])
            draws = retry_draws(self.draws, u, number)
            delay_s = backoff_s(policy, number, previous_s, draws)
            deadline = self.plan.scenario.clients.deadline
            if deadline is not None and self.sim_now_s() + delay_s >= due_s * self.plan.time_scale + deadline:
                return
            previous_s, number = delay_s, number + 1
            intended_s = record.end_s + delay_s / self.plan.time_scale
            gevent.sleep(max(0.0, intended_s - self.now_s()))

    def _attempt(self, req: int, klass: int, body: bytes, due_s: float, intended_s: float, number: int) -> Record:
        nan = math.nan
        record = Record(req, number, klass, due_s, intended_s, nan, nan, nan, 0, 0, nan, nan)
        self.records.append(record)
        if self.adaptive is not None and self.adaptive.refuses(self.sim_now_s()):
            record.send_s = record.end_s = self.now_s()
            record.status = 429  # refused by the client itself, as in the simulator
            self.report(record, 0)
            return record
        outcome = send(self.target, body, self.plan.stream, self.timeout_s, self.class_names[klass], self.tls)
        self._fill(record, outcome)
        if (self.bucket is not None or self.adaptive is not None) and record.status != 429:
            self._learn(record.status)
        self.report(record, outcome.length)
        return record

    def _fill(self, record: Record, outcome: Outcome) -> None:
        record.send_s = outcome.send_s - self.t0
        record.end_s = outcome.end_s - self.t0
        record.first_token_s = outcome.first_token_s - self.t0
        record.status, record.tokens = outcome.status, outcome.tokens
        record.server_wait_s, record.server_service_s = outcome.server_wait_s, outcome.server_service_s
        record.server_arrived_s = outcome.server_arrived_s - self.t0_monotonic  # the mock's clock is monotonic

    def _learn(self, status: int) -> None:
        if self.bucket is not None and (status == 200 or status in self.plan.scenario.clients.retries.on):
            self.bucket.record(status == 200)
        if self.adaptive is not None:
            self.adaptive.record(self.sim_now_s(), status)

    def _may_retry(self, number: int, status: int) -> bool:
        policy = self.plan.scenario.clients.retries
        retried = status in policy.on or (status == 599 and 502 in policy.on)  # no answer: like a 502
        if number > policy.max or not retried:
            return False
        if self.bucket is not None and not self.bucket.allows_retry():
            return False
        return self.budget is None or self.budget.withdraw(self.sim_now_s())

    def _schedule_faults(self) -> None:
        """The scenario's faults, on the servers the simulator picks, at scaled times (drains one server
        at a time), each a ``POST /admin/faults`` to the router."""
        for at_s, fault in planned_injections(self.plan.scenario, self.plan.seed, self.plan.time_scale):
            # posted ahead, to start at its due instant on the clock all processes share
            payload = fault.payload() | {"at_monotonic_s": self.t0_monotonic + at_s}
            gevent.spawn_later(max(0.0, at_s - FAULT_LEAD_S), _post_admin, *self.admin, "/admin/faults", payload)


def _post_admin(host: str, port: int, path: str, payload: dict[str, object]) -> None:
    try:
        with gevent.socket.create_connection((host, port), timeout=5) as sock:
            token = admin_headers().get("Authorization")
            extra = f"Authorization: {token}\r\n" if token else ""
            sock.sendall(post_request(host, port, path, json.dumps(payload).encode(), extra))
            status = sock.recv(4096).split(b"\r\n", 1)[0].decode("latin-1", "replace")
    except OSError as exc:
        status = f"no answer ({exc})"
    if " 200 " not in f"{status} ":  # said in the locust log: the run goes on without this fault
        print(f"orchsim: POST {path} {payload} failed: {status}", file=sys.stderr, flush=True)
