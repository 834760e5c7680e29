"""The LLM token model on tiny traces with exact expectations: prefill, batching, KV cache, preemption."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim.analysis.metrics import summarize
from sim.engine import SimResult, Simulation, simulate
from sim.scenario.loading import load_scenario
from sim.workload.trace import Trace
from tests.conftest import known, make_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
LLM_PROFILE = {"kind": "llm", "profile": "h100-8b"}


def llm_cluster(**service: Any) -> dict[str, Any]:
    slots = service.pop("slots", 8)
    return {"name": "gpu", "servers": 1, "slots": slots, "service": {"kind": "llm", **service}}


def token_trace(requests: list[tuple[float, int, int]]) -> Trace:
    """A one-class trace of (arrival s, prompt tokens, output tokens) requests."""
    return Trace(
        np.array([r[0] for r in requests]),
        np.zeros(len(requests), dtype=np.int32),
        np.arange(len(requests)),
        prompt_tokens=np.array([r[1] for r in requests], dtype=np.int64),
        output_tokens=np.array([r[2] for r in requests], dtype=np.int64),
    )


def run(requests: list[tuple[float, int, int]], cluster: dict[str, Any], **fields: Any) -> SimResult:
    """``requests``: (arrival s, prompt tokens, output tokens)."""
    trace = token_trace(requests)
    fields.setdefault("duration", 10)
    fields.setdefault("drain", 30)
    return Simulation(make_scenario(clusters=[cluster], **fields), trace=trace).run()


def ends(result: SimResult) -> list[float]:
    return [round(float(x), 9) for x in result.req_end_s - result.arrival_s]


def ttfts(result: SimResult) -> list[float]:
    a = result.attempts
    return [round(float(x), 9) for x in a["first_token_s"] - a["sent_s"]]


def test_single_request_on_an_idle_server_follows_the_formula() -> None:
    # TTFT = 30 ms + 1000 x 250 us = 0.28 s; end = TTFT + (101 - 1) x 12 ms = 1.48 s
    result = run([(0.0, 1000, 101)], llm_cluster(profile="h100-8b"))
    assert ttfts(result) == [pytest.approx(0.28)]
    assert ends(result) == [pytest.approx(1.48)]


def test_a_batch_decodes_together_at_the_configured_per_token_slowdown() -> None:
    curve = [[1, 1.0], [4, 2.0]]
    one = run([(0.0, 100, 11)], llm_cluster(prefill_overhead=0.03, prefill_per_token=0.00025, itl=0.012))
    four = run(
        [(0.0, 100, 11)] * 4,
        llm_cluster(prefill_overhead=0.03, prefill_per_token=0.00025, itl=0.012, concurrency_curve=curve),
    )
    # prefill 0.055 s each; then 10 tokens at 12 ms alone, at 24 ms in a batch of four
    assert ends(one) == [pytest.approx(0.055 + 10 * 0.012)]
    assert ends(four) == [pytest.approx(0.055 + 10 * 0.024)] * 4
    rate_one = 11 / ends(one)[0]
    rate_four = 4 * 11 / ends(four)[0]
    assert rate_four > 2 * rate_one  # tokens per second rise with the batch while each token is slower


def test_a_sequence_joining_the_batch_slows_the_others_from_that_moment() -> None:
    # no prefill; itl 10 ms alone and 20 ms in a batch of two: A has 50 of its 100 tokens left
    # when B (50 tokens) joins at 0.5 s; both then advance at 50 tokens/s and end at 1.5 s
    cluster = llm_cluster(itl=0.01, concurrency_curve=[[1, 1.0], [2, 2.0]])
    result = run([(0.0, 10, 101), (0.5, 10, 51)], cluster)
    assert ends(result) == [pytest.approx(1.5), pytest.approx(1.0)]


def test_reserved_kv_cache_makes_the_third_request_wait() -> None:
    # each reserves 399 + 101 tokens of a 1000-token cache: two run, the third waits for one to end
    cluster = llm_cluster(itl=0.01, kv_cache_tokens=1000)
    result = run([(0.0, 399, 101)] * 3, cluster)
    assert ends(result) == [pytest.approx(1.0), pytest.approx(1.0), pytest.approx(2.0)]
    assert result.attempts["start_s"].tolist() == pytest.approx([0.0, 0.0, 1.0])


def test_cache_overflow_preempts_the_newest_sequence_which_recomputes_later() -> None:
    # 600-token cache, two prompts of 200 admitted; each holds 201 + v tokens, so the cache is
    # full at v = 99 (t = 0.99 s): B, the newer, is preempted with 101 tokens to go and comes back
    # when A ends at t = 2.0 s (no prefill cost here), ending 101 x 10 ms later
    cluster = llm_cluster(itl=0.01, kv_cache_tokens=600, preemption="recompute")
    result = run([(0.0, 200, 201), (0.0, 200, 201)], cluster)
    assert ends(result) == [pytest.approx(2.0), pytest.approx(3.01)]
    assert result.counters == {"preemptions": 1}


def test_a_request_larger_than_the_cache_runs_alone_instead_of_blocking_the_queue() -> None:
    result = run([(0.0, 900, 201), (0.0, 10, 11)], llm_cluster(itl=0.01, kv_cache_tokens=500))
    assert result.req_code.tolist() == [200, 200]
    assert ends(result) == [pytest.approx(2.0), pytest.approx(2.1)]


def chat_ttft_p99(path: str, *overrides: str, seed: int = 1) -> float:
    scenario = load_scenario(SCENARIOS / path, list(overrides))
    classes = summarize(simulate(scenario, seed)).classes
    assert classes is not None
    return known(classes["chat"].ttft_s.p99)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_long_reasoning_requests_block_chat_turns_and_priority_or_pools_fix_it(seed: int) -> None:
    # 10% of requests are long reasoning; the same chat traffic alone is the reference
    alone = chat_ttft_p99("reasoning-hol.yaml", "workload.rate=6.3", "workload.classes.1.weight=1e-9", seed=seed)
    fcfs = chat_ttft_p99("reasoning-hol.yaml", seed=seed)
    priority = chat_ttft_p99("reasoning-hol.yaml", "clusters.0.service.scheduling=priority", seed=seed)
    pools = chat_ttft_p99("reasoning-pools.yaml", seed=seed)
    assert fcfs > 5 * alone  # far more than a 10% share of requests would explain
    assert priority < 0.6 * fcfs  # chat turns take freed slots first, but long ones still hold most
    assert pools < 2 * alone


def test_prefix_affinity_finds_cached_prefixes_that_least_connections_scatters() -> None:
    base: dict[str, Any] = {
        "duration": 600,
        "workload": {"rate": 20, "sessions": {"count": 50}, "prompt_tokens": 4000, "output_tokens": 20},
        "clusters": [
            {
                "name": "gpu",
                "servers": 8,
                "slots": 16,
                "service": {**LLM_PROFILE, "prefix_cache": {"sessions": 20, "hit_share": 0.9}},
            }
        ],
    }
    ttft = {}
    for strategy in ("least_connections", "prefix_affinity"):
        summary = summarize(simulate(make_scenario(router={"strategy": strategy}, **base)))
        ttft[strategy] = known(summary.ttft_s.mean)
    # a hit skips 90% of a 4000-token prefill (1.03 s -> 0.13 s)
    assert ttft["prefix_affinity"] < 0.5 * ttft["least_connections"]


def test_least_outstanding_tokens_balances_tokens_not_requests() -> None:
    from sim.rng import Draws, stream
    from sim.strategies import make_strategy

    class View:
        def __init__(self, index: int, requests: int, tokens: int) -> None:
            self.index, self.slots, self.busy, self.queued = index, 16, requests, 0
            self.in_flight, self.work_in_flight, self.tokens_in_flight = requests, float(requests), tokens
            self.prefix_sessions: frozenset[int] = frozenset()

    servers = [View(0, 1, 30_000), View(1, 5, 3_000)]
    strategy = make_strategy("least_outstanding_tokens", {}, servers, Draws(stream(0, "t")))
    assert strategy.choose(servers, servers[0], Draws(stream(0, "t"))) == 1  # type: ignore[arg-type]


def test_without_preemption_a_cache_overflow_fails_the_newest_with_500() -> None:
    cluster = llm_cluster(itl=0.01, kv_cache_tokens=600, preemption="fail")
    result = run([(0.0, 200, 201), (0.0, 200, 201)], cluster)
    assert result.req_code.tolist() == [200, 500]
    assert ends(result) == [pytest.approx(2.0), pytest.approx(0.99)]
    assert result.counters == {"preemptions": 1}


def test_the_mock_service_uses_the_same_prefill_and_decode_formula() -> None:
    from sim.scenario import ServiceModel
    from sim.workload.service import llm_request_s

    model = ServiceModel(kind="llm", profile="h100-8b")
    assert llm_request_s(model, 1000, 101, batch=1, slots=16) == pytest.approx(1.48)
    # a full batch of 16 doubles the inter-token latency (load_factor 2.0)
    assert llm_request_s(model, 1000, 101, batch=16, slots=16) == pytest.approx(0.28 + 100 * 0.024)


def test_swap_preemption_pays_the_swap_instead_of_a_new_prefill() -> None:
    # as the recompute case, but B comes back after swapping its 300 cached tokens in (1 ms each)
    # instead of a prefill; the prefill costs 1 ms a token here, so recompute would cost the same
    # 300 tokens only when swap_per_token equals prefill_per_token: make swap ten times cheaper
    common = {"itl": 0.01, "kv_cache_tokens": 600, "prefill_per_token": 0.001}
    recompute = run([(0.0, 200, 201)] * 2, llm_cluster(**common, preemption="recompute"))
    swap = run([(0.0, 200, 201)] * 2, llm_cluster(**common, preemption="swap", swap_per_token=0.0001))
    assert recompute.counters == swap.counters == {"preemptions": 1}
    # both start with a 0.2 s prefill; B resumes when A ends, then recomputes 300 tokens (0.3 s)
    # or swaps them in (0.03 s) before its last 101 tokens
    a_end = 0.2 + 2.0
    assert ends(recompute)[1] == pytest.approx(a_end + 0.3 + 1.01)
    assert ends(swap)[1] == pytest.approx(a_end + 0.03 + 1.01)


def test_a_prefill_preempted_midway_is_not_finished_by_its_old_timer() -> None:
    # B's prefill takes 0.4 s; A's growing cache fills it at about 0.21 s, so B (the newest) is
    # preempted mid-prefill and comes back when A ends (about 0.4 s) for a whole new prefill:
    # its first prefill's timer, due at 0.405 s, must not end the second one early
    common = {"itl": 0.001, "kv_cache_tokens": 420, "prefill_per_token": 0.002, "preemption": "recompute"}
    result = run([(0.0, 10, 400), (0.005, 200, 11)], llm_cluster(**common))
    assert result.req_code.tolist() == [200, 200]
    assert result.counters == {"preemptions": 1}
    a = result.attempts
    a_end = float(a["server_end_s"][a["req"] == 0][0])
    b_first = float(a["first_token_s"][a["req"] == 1][0])
    assert b_first == pytest.approx(a_end + 0.4)


def test_a_reserving_server_admits_by_its_reservations_however_long_it_has_run() -> None:
    # the cache holds A's 9,010 tokens and B's 20; B must start at once at t = 50 s
    result = run([(0.0, 10, 9000), (50.0, 10, 10)], llm_cluster(itl=0.01, kv_cache_tokens=10_000), drain=200)
    assert ends(result)[1] == pytest.approx(0.09)


@pytest.mark.parametrize("preemption", ["recompute", "swap"])
def test_under_preemption_no_answer_is_faster_than_its_tokens_and_the_cache_empties(preemption: str) -> None:
    rng = np.random.default_rng(7)
    requests = sorted(
        (float(t), int(p), int(o))
        for t, p, o in zip(rng.uniform(0, 20, 60), rng.integers(10, 400, 60), rng.integers(2, 300, 60), strict=True)
    )
    cluster = llm_cluster(itl=0.01, kv_cache_tokens=1500, prefill_per_token=0.0005, preemption=preemption)
    simulation = Simulation(make_scenario(clusters=[cluster], duration=30, drain=300), trace=token_trace(requests))
    result = simulation.run()
    assert result.counters["preemptions"] > 0
    assert (result.req_code == 200).all()
    a = result.attempts
    outputs = np.array([r[2] for r in requests])[a["req"]]
    decode_s = a["server_end_s"] - a["first_token_s"]
    assert (decode_s >= (outputs - 1) * 0.01 - 1e-6).all()  # every token took at least one step
    server = simulation.clusters[0].servers[0]
    assert server.kv_fixed == pytest.approx(0.0) and server.kv_decoding == pytest.approx(0.0)  # type: ignore[attr-defined]
