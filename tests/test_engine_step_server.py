"""sim/engine/step_server.py alone: a StepLlmServer on a Kernel and a stand-in cluster; the steps of a
batch (chunked prefill under a token budget, then decodes) against step times computed by hand."""

from __future__ import annotations

from typing import Any

import pytest

from sim.control.faults import add_slowdown
from sim.engine.attempt import Attempt
from sim.engine.kernel import Kernel
from sim.engine.step_server import StepLlmServer, step_time_s
from sim.scenario import ServiceModel
from tests.engine_stubs import ClusterStub, Finish, at, attempt, build_servers, spec

# a step: 10 ms + 1 ms per decoding sequence + 0.01 ms per cached token of theirs + 0.1 ms per prompt
# token in the step + 1 us per prompt token x tokens before it (attention); 100 tokens a step at most
MODEL = {
    "kind": "llm",
    "step_s": 0.01,
    "step_per_seq_s": 0.001,
    "step_per_kv_token_s": 1e-5,
    "step_per_prefill_token_s": 1e-4,
    "step_per_prefill_token2_s": 1e-6,
    "max_num_batched_tokens": 100,
}


def step_server(**model: Any) -> tuple[Kernel, Finish, StepLlmServer]:
    kernel = Kernel()
    finish = Finish(kernel)
    cluster = ClusterStub(kernel, spec(ServiceModel(**{**MODEL, **model}), slots=4), finish)
    (server,) = build_servers(StepLlmServer, kernel, cluster)
    return kernel, finish, server


def sequence(req: int, sent_s: float, prompt: int, output: int) -> Attempt:
    a = attempt(req, sent_s)
    a.prompt_tokens, a.output_tokens, a.tokens = prompt, output, prompt + output
    return a


def test_step_time_adds_its_costs() -> None:
    costs = (0.01, 0.001, 1e-5, 1e-4, 1e-6)
    # 0.01 + 2 x 0.001 + 143 x 1e-5 + 40 x 1e-4 + 1600 x 1e-6
    assert step_time_s(costs, 2, 143.0, 40.0, 1600.0) == pytest.approx(0.01 + 0.002 + 0.00143 + 0.004 + 0.0016)


def test_a_batch_of_two_chunked_prefills_then_decodes() -> None:
    kernel, finish, server = step_server()
    a, b = sequence(0, 0.0, prompt=80, output=3), sequence(1, 0.0, prompt=60, output=2)
    for x in (a, b):
        at(kernel, 0.0, server.accept, x)
    kernel.run(10.0)
    # step 1 (planned once both arrived): a's whole prompt (80) and b's first 20 tokens fill the budget;
    #   attention 80 x (0 + 40) + 20 x (0 + 10) = 3400 -> 0.01 + 100 x 1e-4 + 3400 x 1e-6 = 0.0234.
    #   a's first token; a decodes from now with 80 + 1 cached tokens.
    # step 2: budget 100 - 1 decode = 99: b's last 40; attention 40 x (20 + 20) = 1600
    #   -> 0.01 + 0.001 + 81 x 1e-5 + 40 x 1e-4 + 1600 x 1e-6 = 0.01741, ends 0.04081: a's second token
    #   (82 cached), b's first token (61 cached).
    # step 3: two decodes, 143 cached -> 0.01 + 0.002 + 143 x 1e-5 = 0.01343, ends 0.05424:
    #   a's third (last) token and b's second (last) token
    assert a.first_token_s == pytest.approx(0.0234)
    assert b.first_token_s == pytest.approx(0.04081)
    assert finish.rounded() == [(0.05424, 0, 200), (0.05424, 1, 200)]
    assert server.steps == 3 and server.kv_used() == 0 and server.busy == 0


def test_prefill_overhead_delays_entry_and_a_slowdown_stretches_the_step() -> None:
    kernel, finish, server = step_server(prefill_overhead=0.05)
    at(kernel, 0.0, add_slowdown, server, 2.0)
    at(kernel, 0.0, server.accept, sequence(0, 0.0, prompt=50, output=1))
    kernel.run(10.0)
    # enters the scheduler after 0.05 x 2 = 0.1; one step over 50 prompt tokens, attention 50 x 25:
    # (0.01 + 0.005 + 0.00125) x 2 = 0.0325; output 1: done with its prompt, at 0.1325
    assert finish.rounded() == [(0.1325, 0, 200)]


def test_a_crash_during_a_step_loses_the_step() -> None:
    kernel, finish, server = step_server()
    a = sequence(0, 0.0, prompt=50, output=5)
    at(kernel, 0.0, server.accept, a)
    lost: list[int] = []
    at(kernel, 0.005, lambda: lost.extend(x.req for x in server.crash()))
    at(kernel, 1.0, server.recover)
    b = sequence(1, 1.0, prompt=50, output=1)
    at(kernel, 1.0, server.accept, b)
    kernel.run(10.0)
    # the first step would end at 0.01625; the crash at 0.005 loses a and the step (nothing is
    # answered at 0.01625). After the recovery b runs one step: 1.0 + 0.01625
    assert lost == [0]
    assert finish.rounded() == [(1.01625, 1, 200)]
    assert server.steps == 1
