"""sim/engine/llm_server.py alone: an LlmServer on a Kernel and a stand-in cluster; prefill and decode
times of one and two sequences, the KV cache's admission, preemption and the prefix cache, against
times computed by hand below.

The token model throughout (unless a test says otherwise): prefill = 0.1 s + 1 ms per prompt token
(100 tokens: 0.2 s); each further token 20 ms x factor(batch), the factor rising linearly from 1 with
one sequence to ``load_factor`` at a full batch.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from sim.engine.attempt import NATIVE, Attempt
from sim.engine.kernel import Gauge, Kernel
from sim.engine.llm_server import LlmServer
from sim.scenario import ServiceModel
from sim.scenario.cluster import PrefixCache
from tests.conftest import in_pure_python
from tests.engine_stubs import ClusterStub, Finish, at, attempt, build_servers, spec

MODEL = {"kind": "llm", "prefill_overhead": 0.1, "prefill_per_token": 0.001, "itl": 0.02}


def llm_server(slots: int = 2, **model: Any) -> tuple[Kernel, Finish, LlmServer]:
    kernel = Kernel()
    finish = Finish(kernel)
    cluster = ClusterStub(kernel, spec(ServiceModel(**{**MODEL, **model}), slots=slots), finish)
    (server,) = build_servers(LlmServer, kernel, cluster)
    return kernel, finish, server


def sequence(req: int, sent_s: float, prompt: int, output: int, session: int | None = None) -> Attempt:
    a = attempt(req, sent_s)
    a.prompt_tokens, a.output_tokens, a.tokens = prompt, output, prompt + output
    if session is not None:
        a.session = session
    return a


def send(kernel: Kernel, server: LlmServer, *attempts: Attempt) -> None:
    for a in attempts:
        at(kernel, a.sent_s, server.accept, a)


def test_one_sequence_prefill_then_decode() -> None:
    kernel, finish, server = llm_server()
    a = sequence(0, 0.0, prompt=100, output=11)
    send(kernel, server, a)
    kernel.run(10.0)
    # first token out of prefill at 0.2; 10 more tokens x 0.02 = 0.2 -> ends 0.4
    assert a.first_token_s == pytest.approx(0.2)
    assert finish.rounded() == [(0.4, 0, 200)]


def test_two_sequences_share_the_batch_and_the_survivor_speeds_up() -> None:
    kernel, finish, server = llm_server(load_factor=1.5)  # 2 slots: factor 1.5 with 2 in the batch
    a, b = sequence(0, 0.0, 100, 11), sequence(1, 0.0, 100, 6)
    send(kernel, server, a, b)
    kernel.run(10.0)
    # both prefill on their own timers: first tokens at 0.2. With two in the batch a token takes
    # 0.02 x 1.5 = 0.03: b's 5 more tokens end at 0.2 + 0.15 = 0.35, when a has 5 of its 10 done;
    # alone again (factor 1) a's last 5 take 0.1 -> 0.45
    assert [a.first_token_s, b.first_token_s] == [pytest.approx(0.2), pytest.approx(0.2)]
    assert finish.rounded() == [(0.35, 1, 200), (0.45, 0, 200)]


def test_a_sequence_admitted_mid_decode_slows_the_running_one_from_its_admission() -> None:
    kernel, finish, server = llm_server(load_factor=1.5)
    a, b = sequence(0, 0.0, 100, 11), sequence(1, 0.3, 100, 2)
    send(kernel, server, a, b)
    kernel.run(10.0)
    # a decodes alone from 0.2: 5 tokens by 0.3. From 0.3 two sequences are admitted (b in prefill):
    # a's last 5 tokens take 5 x 0.03 = 0.15 -> 0.45. b's prefill ends 0.5 (first token); its one
    # more token, alone, 0.02 later -> 0.52
    assert b.first_token_s == pytest.approx(0.5)
    assert finish.rounded() == [(0.45, 0, 200), (0.52, 1, 200)]


def test_without_preemption_a_sequence_waits_until_its_reservation_fits() -> None:
    kernel, finish, server = llm_server(kv_cache_tokens=150)
    a, b = sequence(0, 0.0, 100, 10), sequence(1, 0.0, 50, 10)
    send(kernel, server, a, b)
    queued = []
    at(kernel, 0.1, lambda: queued.append((server.busy, server.queued)))
    kernel.run(10.0)
    # a reserves 100 + 10 = 110 of 150; b needs 60 more: it waits. a: first token 0.2, 9 more
    # x 0.02 -> 0.38. b then: prefill 0.1 + 0.05 = 0.15 -> 0.53, 9 more tokens -> 0.71
    assert queued == [(1, 1)]
    assert b.start_s == pytest.approx(0.38) and b.first_token_s == pytest.approx(0.53)
    assert finish.rounded() == [(0.38, 0, 200), (0.71, 1, 200)]
    assert server.preemptions == 0 and server.kv_used() == 0


def test_recompute_preempts_the_newest_when_the_cache_overflows() -> None:
    kernel, finish, server = llm_server(kv_cache_tokens=250, preemption="recompute")
    a, b = sequence(0, 0.0, 100, 51), sequence(1, 0.0, 100, 51)
    send(kernel, server, a, b)
    kernel.run(10.0)
    # admission needs the prompt only: 100 + 100 <= 250 x 0.99. At 0.2 both decode holding
    # 101 tokens each, growing one token per 0.02 s each: 202 + 2v reaches 250 at v = 24, t = 0.68.
    # b (the newest) is preempted with 50 - 24 = 26 tokens to go and 25 of its answer cached; it
    # needs 125 tokens back, a holds 125: no room. a finishes alone: 26 x 0.02 -> 1.2. b prefills
    # again over 125 tokens: 0.1 + 0.125 -> 1.425, then its 26 tokens -> 1.945
    assert server.preemptions == 1
    assert b.first_token_s == pytest.approx(0.2)  # its first token came out before the preemption
    assert finish.rounded() == [(1.2, 0, 200), (1.945, 1, 200)]


def test_fail_mode_answers_500_to_the_newest_at_the_overflow() -> None:
    kernel, finish, server = llm_server(kv_cache_tokens=250, preemption="fail")
    a, b = sequence(0, 0.0, 100, 51), sequence(1, 0.0, 100, 51)
    send(kernel, server, a, b)
    kernel.run(10.0)
    # as above up to 0.68, where b fails instead; a, alone, ends 26 x 0.02 later at 1.2
    assert finish.rounded() == [(0.68, 1, 500), (1.2, 0, 200)]


def test_the_prefix_cache_shortens_the_prefill_of_a_known_session() -> None:
    kernel, finish, server = llm_server(prefix_cache=PrefixCache(sessions=1, hit_share=0.8))
    first, again, other, evicted = (
        sequence(0, 0.0, 100, 1, session=5),
        sequence(1, 1.0, 100, 1, session=5),
        sequence(2, 2.0, 100, 1, session=6),
        sequence(3, 3.0, 100, 1, session=5),
    )
    send(kernel, server, first, again, other, evicted)
    kernel.run(10.0)
    # output 1: the request ends with its prefill. 0.2 for a new session; session 5 again: 20% of the
    # prompt left, 0.1 + 0.02 = 0.12; session 6 pushes 5 out (room for one): 0.2 again for both
    assert finish.rounded() == [(0.2, 0, 200), (1.12, 1, 200), (2.2, 2, 200), (3.2, 3, 200)]


def test_a_cancelled_sequence_leaves_the_batch_and_the_next_one_starts() -> None:
    kernel, finish, server = llm_server(slots=1)
    a, b = sequence(0, 0.0, 100, 11), sequence(1, 0.1, 100, 2)
    send(kernel, server, a, b)
    at(kernel, 0.3, server.cancel, a)
    kernel.run(10.0)
    # a is dropped mid-decode at 0.3; b starts at once: prefill -> 0.5, one more token -> 0.52
    assert b.start_s == pytest.approx(0.3)
    assert finish.rounded() == [(0.3, 0, 0), (0.52, 1, 200)]
    assert server.kv_used() == 0 and server.n_decoding == 0


def test_an_error_rate_fault_answers_500_without_using_the_batch() -> None:
    kernel, finish, server = llm_server()
    server.error_fractions = [(1.0, 0.05)]
    send(kernel, server, sequence(0, 0.0, 100, 11))
    kernel.run(10.0)
    assert finish.rounded() == [(0.05, 0, 500)]
    assert server.busy == 0 and server.in_flight == 0


def test_swap_brings_a_preempted_sequence_back_at_its_swap_cost() -> None:
    kernel, finish, server = llm_server(kv_cache_tokens=250, preemption="swap", swap_per_token=0.001)
    a, b = sequence(0, 0.0, 100, 51), sequence(1, 0.0, 100, 51)
    send(kernel, server, a, b)
    kernel.run(10.0)
    # as with recompute up to 1.2; then b swaps its 125 cached tokens back in: 0.125 s -> 1.325, and
    # decodes its last 26 tokens -> 1.845
    assert server.preemptions == 1
    assert finish.rounded() == [(1.2, 0, 200), (1.845, 1, 200)]


def test_priority_scheduling_admits_the_highest_class_first() -> None:
    kernel, finish, server = llm_server(slots=1, scheduling="priority")
    a, low, high = sequence(0, 0.0, 100, 1), sequence(1, 0.05, 100, 1), sequence(2, 0.1, 100, 1)
    high.priority = 1
    send(kernel, server, a, low, high)
    kernel.run(10.0)
    # one at a time, 0.2 s each: a, then the later but higher-priority request, then the other
    assert finish.rounded() == [(0.2, 0, 200), (0.4, 2, 200), (0.6, 1, 200)]


class _ReportsAlways(LlmServer):
    """The KV reporting before the skip: every call reaches the gauge."""

    __slots__ = ()

    def _report_kv(self, now_s: float) -> None:
        self.kv_reported_s = math.nan  # never "already reported at this instant"
        super()._report_kv(now_s)


class _CountingGauge(Gauge):
    __slots__ = ("calls",)

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def add(self, delta: float, now_s: float) -> None:
        self.calls += 1
        super().add(delta, now_s)


def _kv_gauge_run(kind: type[LlmServer]) -> tuple[_CountingGauge, list[float], Finish]:
    """A batch that grows, overflows and drains on a 3-slot server with a 250-token cache, sampled every 0.1 s."""
    kernel = Kernel()
    finish = Finish(kernel)
    model = ServiceModel(**{**MODEL, "kv_cache_tokens": 250, "preemption": "recompute", "load_factor": 1.5})
    cluster = ClusterStub(kernel, spec(model, slots=3), finish)
    (server,) = build_servers(kind, kernel, cluster)
    gauge = server.kv_gauge = _CountingGauge()
    send(kernel, server, *(sequence(i, 0.05 * i, 60 + 10 * i, 30 + 7 * i) for i in range(6)))
    areas: list[float] = []
    for k in range(1, 60):
        at(kernel, 0.1 * k, lambda: areas.append(gauge.take_area(kernel.now)))
    kernel.run(10.0)
    return gauge, areas, finish


def test_kv_reports_skipped_at_the_same_instant_leave_the_gauge_bit_for_bit(request: pytest.FixtureRequest) -> None:
    if NATIVE:  # it subclasses LlmServer and Gauge, compiled classes: on the pure-Python sources
        in_pure_python(request)
        return
    gauge, areas, finish = _kv_gauge_run(LlmServer)
    always, always_areas, always_finish = _kv_gauge_run(_ReportsAlways)
    assert finish.trace == always_finish.trace and len(finish.trace) == 6
    assert areas == always_areas and any(areas)  # exact floats, not approx
    assert gauge.value == always.value
    assert 0 < gauge.calls < always.calls  # some reports were skipped, and not all
