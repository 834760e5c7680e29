"""``workload.service_draws: per_request``: one draw per request, whichever server serves it.

This is what lets ``orchsim validate`` compare the mock and the simulation request by request:
the same work per request on both sides, so their difference is the model's, not sampling noise.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from scipy import stats as st

from loadtest.mock.classes import CLASS_HEADER, ClassTable
from loadtest.mock.openai_api import RequestError, parse_chat_request
from loadtest.openloop import Dispatcher, LoadPlan
from loadtest.target import Target
from loadtest.wire import chat_body
from sim.engine import SimResult
from sim.rng import retry_u
from sim.scenario import ServiceModel
from sim.workload.service import ServiceTimes
from sim.workload.trace import generate_trace
from tests import theory
from tests.conftest import make_scenario, run_summary

PER_REQUEST: dict[str, Any] = {"rate": 7, "service_draws": "per_request"}


def service_by_request(result: SimResult) -> dict[int, float]:
    """Service seconds of each request's first attempt that reached a server."""
    a = result.attempts
    served = ~np.isnan(a["start_s"]) & (a["code"] == 200)
    out: dict[int, float] = {}
    for req, start, end in zip(a["req"][served], a["start_s"][served], a["server_end_s"][served], strict=True):
        out.setdefault(int(req), float(end - start))
    return out


@pytest.mark.parametrize("kind", [{"kind": "exponential", "mean": 1.0}, {"kind": "lognormal", "mean": 1.0, "cv": 0.5}])
def test_a_request_takes_the_same_time_under_any_strategy(kind: dict[str, Any]) -> None:
    clusters = [{"name": "pool", "servers": 8, "service": kind}]
    runs = [
        service_by_request(
            run_summary(
                make_scenario(duration=600, workload=PER_REQUEST, clusters=clusters, router={"strategy": s}), 5
            )[0]
        )
        for s in ("round_robin", "least_connections", "random")
    ]
    common = set(runs[0]) & set(runs[1]) & set(runs[2])
    assert len(common) > 3500
    for req in common:
        assert runs[0][req] == pytest.approx(runs[1][req], rel=1e-9) == pytest.approx(runs[2][req], rel=1e-9)


def test_per_server_draws_differ_by_strategy() -> None:
    """The default: each server's own stream, so the same request gets other work elsewhere."""
    clusters = [{"name": "pool", "servers": 8}]
    runs = [
        service_by_request(
            run_summary(
                make_scenario(duration=600, workload={"rate": 7}, clusters=clusters, router={"strategy": s}), 5
            )[0]
        )
        for s in ("round_robin", "random")
    ]
    common = set(runs[0]) & set(runs[1])
    assert sum(runs[0][r] != runs[1][r] for r in common) > 0.9 * len(common)


def test_per_request_draws_leave_the_rest_of_the_trace_alone() -> None:
    base = make_scenario(duration=600, workload={"rate": 7})
    drawn = make_scenario(duration=600, workload=PER_REQUEST)
    plain, with_u = generate_trace(base, 3), generate_trace(drawn, 3)
    assert plain.service_u is None
    assert with_u.service_u is not None and with_u.service_u.shape == with_u.arrival_s.shape
    np.testing.assert_array_equal(plain.arrival_s, with_u.arrival_s)
    assert with_u.service_u.min() >= 0.0 and with_u.service_u.max() < 1.0


@pytest.mark.parametrize(
    ("spec", "mean", "cv"),
    [
        ({"kind": "exponential", "mean": 2.0}, 2.0, 1.0),
        ({"kind": "lognormal", "mean": 1.5, "cv": 0.8}, 1.5, 0.8),
        ({"kind": "deterministic", "mean": 0.5}, 0.5, 0.0),
    ],
)
def test_quantile_draws_have_the_models_mean_and_cv(spec: dict[str, Any], mean: float, cv: float) -> None:
    times = ServiceTimes(ServiceModel(**spec), np.random.default_rng(0))
    u = np.random.default_rng(1).random(200_000)
    values = np.array([times.at_s(float(x)) for x in u])
    assert values.mean() == pytest.approx(mean, rel=0.01)
    assert values.std() / values.mean() == pytest.approx(cv, abs=0.01)
    if spec["kind"] == "lognormal":  # the same law as the per-server draws, not only its moments
        drawn = np.array([times.next_s() for _ in range(20_000)])
        assert st.ks_2samp(values[:20_000], drawn).pvalue > 0.001


def test_per_request_central_queue_is_still_mmc() -> None:
    """M/M/10 at load 0.8, per-request draws: Wq = 0.2046 s (Erlang C), six seeds, 99% interval."""
    fields: dict[str, Any] = {
        "duration": 40000,
        "warmup": 500,
        "workload": {"rate": 8, "service_draws": "per_request"},
        "clusters": [{"name": "pool", "servers": 10}],
        "router": {"strategy": "central_queue"},
    }
    values = np.array([run_summary(make_scenario(**fields), seed)[1]["wait_s"]["mean"] for seed in range(1, 7)])
    half = st.t.ppf(0.995, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    expected = theory.mmc_wait_s(10, 8, 1.0)
    assert abs(values.mean() - expected) <= half
    assert half <= 0.10 * expected


def test_the_mock_reads_the_requests_own_draw_from_openai_metadata() -> None:
    body = json.loads(chat_body("m", False, 4, 0.25))
    assert body["metadata"] == {"orchsim_service_u": "0.25"}
    assert parse_chat_request(json.dumps(body).encode()).service_u == 0.25
    assert parse_chat_request(chat_body("m", False, 4)).service_u is None
    assert parse_chat_request(json.dumps({**body, "metadata": {"user": "x"}}).encode()).service_u is None


@pytest.mark.parametrize(
    ("metadata", "param"),
    [
        ({"orchsim_service_u": "1.0"}, "metadata.orchsim_service_u"),
        ({"orchsim_service_u": "-0.1"}, "metadata.orchsim_service_u"),
        ({"orchsim_service_u": "nan"}, "metadata.orchsim_service_u"),
        ({"orchsim_service_u": "half"}, "metadata.orchsim_service_u"),
        ({"orchsim_service_u": 0.5}, "metadata"),
        (["orchsim_service_u"], "metadata"),
    ],
)
def test_a_bad_draw_is_a_400_naming_the_field(metadata: object, param: str) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "metadata": metadata}
    with pytest.raises(RequestError) as caught:
        parse_chat_request(json.dumps(body).encode())
    assert caught.value.status == 400 and caught.value.param == param


def test_a_retried_request_keeps_its_work_on_another_server() -> None:
    """Server 0 answers everything with a quick 500 and clients retry: every request that succeeds
    after a retry is served with the work it gets in a run without the fault."""
    clusters = [{"name": "pool", "servers": 2, "service": {"kind": "lognormal", "mean": 1.0, "cv": 0.5}}]
    common: dict[str, Any] = {
        "duration": 600,
        "workload": {"rate": 1, "service_draws": "per_request"},
        "clusters": clusters,
    }
    fault = [{"kind": "error_rate", "target": "pool/0", "at": 0, "duration": 600, "fraction": 1.0}]
    faulty = make_scenario(**common, router={"strategy": "round_robin"}, faults=fault, clients={"retries": {"max": 3}})
    clean = make_scenario(**common, router={"strategy": "round_robin"})
    retried, plain = run_summary(faulty, 2)[0], run_summary(clean, 2)[0]
    served_retried, served_plain = service_by_request(retried), service_by_request(plain)
    second = {
        int(r)
        for r, n, c in zip(retried.attempts["req"], retried.attempts["number"], retried.attempts["code"], strict=True)
        if n > 1 and c == 200
    }
    assert len(second) > 150
    for req in second:
        assert served_retried[req] == pytest.approx(served_plain[req], rel=1e-9)


def test_class_names_of_any_script_cross_the_class_header() -> None:
    table = ClassTable(make_scenario(workload={"rate": 1, "classes": [{"name": "聊天"}, {"name": "café ", "work": 3}]}))
    assert table.of({CLASS_HEADER: quote("聊天")}).index == 0
    assert table.of({CLASS_HEADER: quote("café ")}).work == 3


def test_a_retry_waits_the_requests_own_jitter_whoever_retries_first() -> None:
    """Per-request draws: the backoff before retry n of a request is full jitter on its own draw,
    ``retry_u(u, n)``, not the next value of a stream shared by all clients (which the mock's load
    generator could not reproduce: retries happen in another order there)."""
    clusters = [{"name": "pool", "servers": 2}]
    fault = [{"kind": "error_rate", "target": "pool/0", "at": 0, "duration": 600, "fraction": 1.0}]
    retries = {"max": 3, "backoff": "exponential", "base": 0.5, "cap": 4, "jitter": "full"}
    scenario = make_scenario(
        duration=600,
        workload=PER_REQUEST,
        clusters=clusters,
        router={"strategy": "round_robin"},
        faults=fault,
        clients={"retries": retries},
    )
    result = run_summary(scenario, 4)[0]
    u = generate_trace(scenario, 4).service_u
    assert u is not None
    a = result.attempts
    ends = {(int(r), int(n)): float(e) for r, n, e in zip(a["req"], a["number"], a["end_s"], strict=True)}
    checked = 0
    for req, number, sent in zip(a["req"], a["number"], a["sent_s"], strict=True):
        if number > 1:
            previous = int(number) - 1
            delay_s = min(4.0, 0.5 * 2.0 ** (previous - 1))
            expected = ends[(int(req), previous)] + retry_u(float(u[req]), previous) * delay_s
            assert float(sent) == pytest.approx(expected, abs=1e-9)
            checked += 1
    assert checked > 1000


def test_retry_draws_are_uniform_and_independent_of_each_other() -> None:
    u = np.random.default_rng(7).random(20_000)
    first = np.array([retry_u(float(x), 1) for x in u])
    second = np.array([retry_u(float(x), 2) for x in u])
    assert st.kstest(first, "uniform").pvalue > 0.001 and st.kstest(second, "uniform").pvalue > 0.001
    assert abs(np.corrcoef(first, second)[0, 1]) < 0.03 and abs(np.corrcoef(first, u)[0, 1]) < 0.03
    assert retry_u(0.25, 3) == retry_u(0.25, 3)


def test_the_load_generator_sends_each_llm_requests_own_tokens_and_draw() -> None:
    """For the LLM token model a request's body carries its own prompt length (in words, which the
    mock counts as tokens) and answer length (max_tokens), and its service draw when drawn per request."""
    llm = {"kind": "llm", "profile": "h100-8b"}
    workload = {
        "rate": 2,
        "service_draws": "per_request",
        "prompt_tokens": {"kind": "lognormal", "mean": 300, "cv": 1.0},
        "output_tokens": {"kind": "lognormal", "mean": 80, "cv": 1.0},
    }
    scenario = make_scenario(duration=60, workload=workload, clusters=[{"name": "g", "servers": 1, "service": llm}])
    plan = LoadPlan(scenario, time_scale=10, seed=3, stream=True, shard=1, shards=2)
    dispatcher = Dispatcher(plan, Target("127.0.0.1", 1), lambda record, size: None)
    trace = generate_trace(scenario, 3)
    assert trace.prompt_tokens is not None and trace.output_tokens is not None and trace.service_u is not None
    assert dispatcher.planned > 40
    for i in range(dispatcher.planned):
        req = int(dispatcher.req[i])
        chat = parse_chat_request(dispatcher.body(i))
        assert chat.prompt_tokens == trace.prompt_tokens[req]
        assert chat.max_tokens == min(int(trace.output_tokens[req]), 4096)
        assert chat.service_u == float(trace.service_u[req])
    plain = Dispatcher(LoadPlan(make_scenario(duration=60, workload={"rate": 2}), 10, 3), Target("127.0.0.1", 1), print)
    assert parse_chat_request(plain.body(0)).max_tokens == 8  # not the LLM model: the plan's answer length
