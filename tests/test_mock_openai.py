"""The mock's OpenAI surface and its vLLM-named /metrics, read with the ``openai`` package's own types
and prometheus_client's text parser, against ``orchsim serve`` on 127.0.0.1 (OS-chosen ports)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types import Completion, ErrorObject, Model
from openai.types.chat import ChatCompletionUserMessageParam
from prometheus_client.parser import text_string_to_metric_families

from tests.test_mock_service import serving

SCENARIO: dict[str, Any] = {
    "name": "openai",
    "duration": "1h",
    "workload": {
        "rate": 5,
        "classes": [{"name": "chat", "model": "mock-model"}, {"name": "long", "model": "mock-model", "work": 1000}],
    },
    "clusters": [
        {
            "name": "a",
            "servers": 2,
            "slots": 2,
            "models": ["mock-model"],
            "service": {"kind": "deterministic", "mean": 1},
        }
    ],
}
HELLO: ChatCompletionUserMessageParam = {"role": "user", "content": "hello there"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("openai"), SCENARIO, "--time-scale", "10") as url:
        yield url


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=30)


def backend_metrics(url: str) -> dict[str, Any]:
    """The backend process's /metrics (the router's port + 1), parsed: family name -> samples."""
    host, port = url.rsplit(":", 1)
    with urllib.request.urlopen(f"{host}:{int(port) + 1}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def test_chat_and_text_completions_plain_and_streamed(service: str) -> None:
    with client(service) as api:
        raw = api.chat.completions.with_raw_response.create(model="mock-model", messages=[HELLO], max_tokens=3)
        assert raw.headers["x-request-id"].startswith("req_")  # made up when the client sends none
        assert raw.parse().choices[0].message.content == "tok0 tok1 tok2"
        text = api.completions.with_raw_response.create(
            model="mock-model", prompt="say it", max_tokens=4, extra_headers={"x-request-id": "mine-42"}
        )
        assert text.headers["x-request-id"] == "mine-42"  # echoed
        completion = text.parse()
        assert isinstance(completion, Completion) and completion.object == "text_completion"
        assert completion.choices[0].text == "tok0 tok1 tok2 tok3" and completion.id.startswith("cmpl-")
        assert completion.usage is not None and completion.usage.completion_tokens == 4
        assert completion.usage.prompt_tokens == 2
        stream = api.completions.create(
            model="mock-model", prompt=["a b", "c"], max_tokens=3, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
        assert "".join(c.choices[0].text for c in chunks if c.choices) == "tok0 tok1 tok2"
        assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 3


def test_models_list_and_retrieve(service: str) -> None:
    with client(service) as api:
        assert [m.id for m in api.models.list()] == ["mock-model"]
        model = api.models.retrieve("mock-model")
        assert isinstance(model, Model) and model.id == "mock-model"
        with pytest.raises(openai.NotFoundError) as missing:
            api.models.retrieve("gpt-nope")
        assert missing.value.code == "model_not_found"


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"model": "gpt-nope", "messages": [HELLO]}, "model", "model_not_found"),
        ({"model": "mock-model", "messages": [HELLO], "max_tokens": -1}, "max_tokens", "invalid_value"),
        ({"model": "mock-model", "messages": "hi"}, "messages", "invalid_type"),
        ({"model": "mock-model"}, "messages", "missing_required_parameter"),
        ({"model": "mock-model", "messages": [HELLO], "stream": "yes"}, "stream", "invalid_type"),
    ],
)
def test_errors_carry_openai_codes(service: str, body: dict[str, Any], param: str, code: str) -> None:
    with client(service) as api, pytest.raises(openai.APIStatusError) as caught:
        api.post("/chat/completions", body=body, cast_to=object)
    error = ErrorObject.model_validate(caught.value.body)
    assert (caught.value.status_code, error.param, error.code) == (
        404 if code == "model_not_found" else 400,
        param,
        code,
    )
    assert error.type == "invalid_request_error" and error.message
    assert caught.value.response.headers["x-request-id"]


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/v1/nope", 404), ("GET", "/v1/completions", 405)])
def test_unknown_paths_answer_json(service: str, method: str, path: str, status: int) -> None:
    request = urllib.request.Request(service + path, method=method)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    with caught.value as answer:
        assert answer.code == status and answer.headers["Content-Type"].startswith("application/json")
        assert answer.headers["x-request-id"]
        error = ErrorObject.model_validate(json.load(answer)["error"])
    assert error.type == "invalid_request_error" and path in error.message


def test_vllm_metrics_while_a_stream_is_open_and_after(service: str) -> None:
    """A 'long' request (work 1000: 100 s real) holds a slot: read its first token, then scrape."""
    with client(service) as api:
        done = api.chat.completions.create(model="mock-model", messages=[HELLO], max_tokens=5)
        assert done.usage is not None
        stream = api.chat.completions.create(
            model="mock-model",
            messages=[HELLO],
            max_tokens=1000,
            stream=True,
            extra_headers={"X-Orchsim-Class": "long"},
        )
        with stream:
            first = next(iter(stream))  # the event: its first token has come, the slot is held
            assert first.choices[0].delta.content == "tok0"
            during = backend_metrics(service)
        after = backend_metrics(service)
    running = {s.labels["server"]: s.value for s in during["vllm:num_requests_running"]}
    assert sum(running.values()) >= 1 and all(
        s.labels["model_name"] == "mock-model" for s in during["vllm:num_requests_running"]
    )
    assert sum(s.value for s in during["vllm:kv_cache_usage_perc"]) >= 0.5  # 1 of a server's 2 slots
    success = sum(s.value for s in after["vllm:request_success"] if s.name.endswith("_total"))
    generated = sum(s.value for s in after["vllm:generation_tokens"] if s.name.endswith("_total"))
    assert success >= 1 and generated >= 3 * success  # every request finished here asked for 3+ tokens
    for family in ("vllm:time_to_first_token_seconds", "vllm:e2e_request_latency_seconds"):
        buckets = [s for s in after[family] if s.name.endswith("_bucket")]
        assert {"600.0", "+Inf"} <= {s.labels["le"] for s in buckets}
        counts = [s.value for s in after[family] if s.name.endswith("_count")]
        assert sum(counts) >= success
    e2e_sum = sum(s.value for s in after["vllm:e2e_request_latency_seconds"] if s.name.endswith("_sum"))
    assert 0.1 * success <= e2e_sum < 100  # 1 s of service at time scale 10 each: 0.1 s real
    assert sum(s.value for s in after["vllm:num_requests_waiting"]) == 0


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    """Bursts of 2, one more request every 100 s: the third request at once is refused."""
    with serving(tmp_path, SCENARIO, "--time-scale", "10", "--rate-limit", "0.01:2") as url, client(url) as api:
        for _ in range(2):
            api.chat.completions.create(model="mock-model", messages=[HELLO], max_tokens=1)
        with pytest.raises(openai.RateLimitError) as caught:
            api.chat.completions.create(model="mock-model", messages=[HELLO], max_tokens=1)
    assert caught.value.code == "rate_limit_exceeded"
    assert 1 <= int(caught.value.response.headers["retry-after"]) <= 100


def test_a_bad_rate_limit_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps(SCENARIO))
    done = subprocess.run(
        [sys.executable, "-m", "sim", "serve", str(path), "--rate-limit", "fast"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--rate-limit: expected RPS or RPS:BURST" in done.stderr
