"""orchsim serve: the mock topology over real HTTP on 127.0.0.1, started and stopped by each test module."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import openai
import pytest
import yaml

from loadtest.balancers.topology import free_port_block  # checked free with the bind the servers use
from tests.conftest import wait_for, wait_for_async

SCENARIO = {
    "name": "mock",
    "duration": "1h",
    "workload": {"rate": 5},
    "clusters": [
        {
            "name": "a",
            "servers": 2,
            "slots": 2,
            "queue_limit": 1,
            "models": ["mock-model"],
            "service": {"kind": "deterministic", "mean": "1s"},
        }
    ],
    "router": {"strategy": "least_connections", "instances": 1, "concurrency": 100},
    "clients": {"timeout": "60s"},
}
REPO = Path(__file__).resolve().parent.parent
TIME_SCALE = 10.0  # 1 s of service = 0.1 s real
R = TypeVar("R")


def on_free_ports(count: int, attempt: Callable[[int], R], stderr: Callable[[R], str]) -> R:
    """``attempt(port)`` on a block of ``count`` ports free now, and again on another block when one
    was taken meanwhile (its stderr says "in use"): a free port is checked, never assumed."""
    for _ in range(4):
        result = attempt(free_port_block(count))
        if "in use" not in stderr(result):
            break
    return result


@contextlib.contextmanager
def refused_url() -> Iterator[str]:
    """A URL that refuses connections for as long as it is held: a bound socket that never listens."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{bound.getsockname()[1]}"


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL if the service has not stopped within 15 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def serve_process(
    path: Path, args: list[str], log: Path, cwd: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``orchsim serve PATH ARGS`` (run in ``cwd``, this tree's ``sim`` first on the path) on a free
    block of ports, ready: its URL and process; SIGTERM at the end (SIGKILL if it hangs), even on
    failure. Ports are not assumed to stay free: when another process takes one between the check and
    the bind, serve says so and it starts again elsewhere."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    for attempt in range(5):
        port = free_port_block(2)
        command = [sys.executable, "-m", "sim", "serve", str(path), "--port", str(port), *args]
        with (
            log.open("w") as err,
            subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=err, text=True) as process,
        ):
            try:
                assert process.stdout is not None
                first = process.stdout.readline() + process.stdout.readline()
                if "ready" not in first:
                    process.wait(timeout=60)
                    if "in use" in log.read_text() and attempt < 4:
                        continue  # a port went to someone else meanwhile
                    raise AssertionError(f"orchsim serve did not start: {first}{log.read_text()}")
                yield f"http://127.0.0.1:{port}", process
                return
            finally:
                if process.poll() is None:
                    stop(process)


@contextlib.contextmanager
def serving(tmp_path: Path, scenario: dict[str, Any], *args: str) -> Iterator[str]:
    """``orchsim serve`` for ``scenario`` until the block ends (SIGTERM, then SIGKILL if it hangs)."""
    path = tmp_path / f"{scenario['name']}-{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump(scenario))
    with serve_process(path, list(args), path.with_suffix(".stderr")) as (url, _):
        yield url


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``orchsim serve`` in a subprocess; SIGTERM at the end (SIGKILL if it hangs), even on failure."""
    folder = tmp_path_factory.mktemp("mock")
    path = folder / "mock.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    args = ["--time-scale", str(TIME_SCALE), "--max-body", "100000"]
    with serve_process(path, args, folder / "stderr.log") as (url, process):
        yield url
        stop(process)
    assert process.returncode == 0
    port = int(url.rsplit(":", 1)[1])
    assert not _listening(port) and not _listening(port + 1)  # router and backend are gone


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def post(
    url: str, body: Any, raw: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url}/v1/chat/completions",
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response), dict(response.headers)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.load(exc), dict(exc.headers)


JSON = {"Content-Type": "application/json"}  # admin endpoints take JSON only
MESSAGE = {"model": "mock-model", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 5}


def test_completion_follows_the_service_model(service: str) -> None:
    """Deterministic 1 s service at time scale 10: about 0.1 s; tolerance: 0.1 s to 0.3 s."""
    started = time.perf_counter()
    status, body, _ = post(service, MESSAGE)
    elapsed = time.perf_counter() - started
    assert status == 200
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"].split() == [f"tok{i}" for i in range(5)]
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7}
    assert 0.1 <= elapsed < 2.0  # never faster than the service; slower only by the machine's load


def test_ready_health_models_metrics(service: str) -> None:
    for path in ("/ready", "/health"):
        with urllib.request.urlopen(service + path, timeout=5) as response:
            assert response.status == 200
    with urllib.request.urlopen(service + "/v1/models", timeout=5) as response:
        assert [m["id"] for m in json.load(response)["data"]] == ["mock-model"]
    post(service, MESSAGE)
    with urllib.request.urlopen(service + "/metrics", timeout=5) as response:
        text = response.read().decode()
    assert 'orchsim_router_requests_total{code="200"}' in text


@pytest.mark.parametrize(
    ("raw", "status", "param"),
    [
        (b"{not json", 400, None),
        (b"[1, 2]", 400, None),
        (json.dumps({"model": "x"}).encode(), 400, "messages"),
        (json.dumps({"messages": "hi"}).encode(), 400, "messages"),
        (json.dumps({**MESSAGE, "max_tokens": -1}).encode(), 400, "max_tokens"),
        (json.dumps({**MESSAGE, "stream": "yes"}).encode(), 400, "stream"),
        (json.dumps({**MESSAGE, "model": "gpt-nope"}).encode(), 404, "model"),
        (b'{"messages": [{"role": "user", "content": "' + b"x" * 110_000 + b'"}]}', 413, None),
    ],
)
def test_bad_requests_get_openai_errors_and_the_service_keeps_serving(
    service: str, raw: bytes, status: int, param: str | None
) -> None:
    code, body, _ = post(service, None, raw=raw)
    assert code == status
    assert body["error"]["param"] == param and body["error"]["message"]
    assert post(service, MESSAGE)[0] == 200


def test_full_waiting_rooms_answer_503_with_retry_after(service: str) -> None:
    """2 servers x (2 slots + 1 waiting): 6 at once are held, more are refused. A 10x slowdown
    (1 s real per request) keeps the first six held while the burst arrives, even on a slow machine."""
    fault = {"cluster": "a", "server": None, "kind": "slowdown", "value": 10.0, "duration_s": 5.0}
    request = urllib.request.Request(
        f"{service}/admin/faults", data=json.dumps(fault).encode(), method="POST", headers=JSON
    )
    urllib.request.urlopen(request, timeout=5).close()

    async def burst() -> list[tuple[int, str | None]]:
        async with aiohttp.ClientSession() as session:

            async def one() -> tuple[int, str | None]:
                async with session.post(f"{service}/v1/chat/completions", json=MESSAGE) as response:
                    await response.read()
                    return response.status, response.headers.get("Retry-After")

            return await asyncio.gather(*(one() for _ in range(12)))

    results = asyncio.run(burst())
    assert sum(code == 200 for code, _ in results) == 6
    assert all(retry == "1" for code, retry in results if code == 503)
    assert sum(code == 503 for code, _ in results) == 6
    lift = {**fault, "value": 1.0, "duration_s": 0}  # back to normal speed for the tests after this one
    urllib.request.urlopen(
        urllib.request.Request(f"{service}/admin/faults", data=json.dumps(lift).encode(), method="POST", headers=JSON),
        timeout=5,
    ).close()


def test_streamed_completion_and_a_client_that_leaves_early(service: str) -> None:
    async def scenario() -> tuple[list[str], float]:
        async with aiohttp.ClientSession() as session:
            body = {**MESSAGE, "stream": True, "stream_options": {"include_usage": True}}
            async with session.post(f"{service}/v1/chat/completions", json=body) as response:
                lines = [line.decode().strip() async for line in response.content if line.strip()]
            async with session.post(f"{service}/v1/chat/completions", json={**body, "max_tokens": 200}) as response:
                await response.content.readline()  # first token, then hang up
                assert _router_in_flight(service) == 1.0
            await wait_for_async(lambda: _router_in_flight(service) == 0.0, "the abandoned stream to free its slot")
        return lines, _router_in_flight(service)

    lines, in_flight = asyncio.run(scenario())
    assert lines[-1] == "data: [DONE]"
    frames = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert "".join(f["choices"][0]["delta"].get("content", "") for f in frames if f["choices"]).split() == [
        f"tok{i}" for i in range(5)
    ]
    assert frames[-1]["usage"]["completion_tokens"] == 5
    assert in_flight == 0.0  # the abandoned stream freed its slot


def _router_in_flight(url: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        line = next(x for x in response.read().decode().splitlines() if x.startswith("orchsim_router_in_flight "))
    return float(line.split()[1])


def test_official_openai_client_works_unchanged(service: str) -> None:
    with openai.OpenAI(base_url=f"{service}/v1", api_key="unused", max_retries=0) as client:
        reply = client.chat.completions.create(
            model="mock-model", messages=[{"role": "user", "content": "hi"}], max_tokens=3
        )
        assert reply.choices[0].message.content == "tok0 tok1 tok2"
        streamed = client.chat.completions.create(
            model="mock-model", messages=[{"role": "user", "content": "hi"}], max_tokens=3, stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices).split() == [
            "tok0",
            "tok1",
            "tok2",
        ]
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="gpt-nope", messages=[{"role": "user", "content": "hi"}])
        fault = {"cluster": "a", "server": None, "kind": "unavailable", "duration_s": 0.5}
        urllib.request.urlopen(
            urllib.request.Request(
                f"{service}/admin/faults", data=json.dumps(fault).encode(), method="POST", headers=JSON
            ),
            timeout=5,
        ).close()
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model="mock-model", messages=[{"role": "user", "content": "hi"}])
        assert info.value.status_code == 503
    wait_for(lambda: post(service, MESSAGE)[0] == 200, "the 0.5 s fault to end (the tests after this one want it gone)")


def test_port_in_use_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "mock.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "sim", "serve", str(path), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert f"127.0.0.1:{port} is already in use" in done.stderr


def test_runtime_fault_injection_and_its_end(service: str) -> None:
    fault = {"cluster": "a", "server": None, "kind": "error_rate", "value": 1.0, "duration_s": 1.0}
    request = urllib.request.Request(
        f"{service}/admin/faults",
        data=json.dumps(fault).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
    status, body, _ = post(service, MESSAGE)
    assert status == 500 and body["error"]["message"] == "injected error"
    wait_for(lambda: post(service, MESSAGE)[0] == 200, "the 1 s fault to end")
    bad = urllib.request.Request(f"{service}/admin/faults", data=b'{"cluster": "nowhere"}', method="POST", headers=JSON)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(bad, timeout=5)
    info.value.close()
    assert info.value.code == 400


def _open_fds(url: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        line = next(x for x in response.read().decode().splitlines() if x.startswith("process_open_fds "))
    return float(line.split()[1])


def test_a_thousand_concurrent_connections(tmp_path: Path) -> None:
    """1,000 requests at once through the router: every one answered (200 or 503), no file descriptor
    left open afterwards beyond a few pooled connections."""
    scenario = {
        **SCENARIO,
        "router": {"strategy": "least_connections"},  # no router cap: the backends decide
        "clusters": [
            {
                "name": "a",
                "servers": 4,
                "slots": 200,
                "queue_limit": 10,
                "service": {"kind": "deterministic", "mean": "200ms"},
            }
        ],
    }
    with serving(tmp_path, scenario) as url:
        before = _open_fds(url)
        codes = asyncio.run(_burst(url, 1000))
        deadline = time.monotonic() + 15  # idle pooled connections to backends close after 2-4 s
        while (after := _open_fds(url)) > before + 5 and time.monotonic() < deadline:
            time.sleep(0.5)
    assert len(codes) == 1000 and set(codes) <= {200, 503}
    assert codes.count(200) >= 800
    assert after <= before + 5


async def _burst(url: str, count: int) -> list[int]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:

        async def one() -> int:
            async with session.post(f"{url}/v1/chat/completions", json=MESSAGE) as response:
                await response.read()
                return response.status

        return list(await asyncio.gather(*(one() for _ in range(count))))


def _serve_and_send(
    tmp_path: Path, scenario: dict[str, Any], count: int, settled: Callable[[list[dict[str, Any]]], bool] | None = None
) -> list[int]:
    """``count`` requests, sent once the router's view of the servers is ``settled``."""
    with serving(tmp_path, scenario, "--time-scale", "10") as url:
        if settled is not None:
            wait_for(lambda: settled(_router_view(url)), "the router's view of the servers to settle")
        return [post(url, MESSAGE)[0] for _ in range(count)]


def _router_view(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(url + "/servers", timeout=5) as response:
        view: list[dict[str, Any]] = json.load(response)["a"]
    return view


def test_router_health_checks_route_around_a_crashed_server(tmp_path: Path) -> None:
    """Probes every 1 s simulated (0.1 s real), one failure marks a server unhealthy."""
    scenario = {
        **SCENARIO,
        "faults": [{"kind": "crash", "target": "a/0", "at": 0, "duration": "1h"}],
        "router": {
            "strategy": "round_robin",
            "health_check": {"interval": 1, "timeout": 0.5, "unhealthy_threshold": 1},
        },
    }
    marked = _serve_and_send(tmp_path, scenario, 6, lambda view: [s["healthy"] for s in view] == [False, True])
    assert marked == [200] * 6


def test_router_outlier_ejection_removes_a_failing_server(tmp_path: Path) -> None:
    scenario = {
        **SCENARIO,
        "faults": [{"kind": "error_rate", "target": "a/0", "at": 0, "duration": "1h", "fraction": 1.0}],
        "router": {
            "strategy": "round_robin",
            "outlier_ejection": {"consecutive_5xx": 2, "base_ejection": "1h", "max_ejected_fraction": 0.5},
        },
    }
    codes = _serve_and_send(tmp_path, scenario, 10)
    assert codes.count(500) == 2 and codes[-6:] == [200] * 6  # two 500s from server 0, then it is ejected


def test_router_retries_a_failed_try_on_another_server(tmp_path: Path) -> None:
    """Server 0 fails everything; round robin sends every other try to it, and the router's one
    retry (router.retries) takes the next server: the client sees only that answer."""
    failing = [{"kind": "error_rate", "target": "a/0", "at": 0, "duration": "1h", "fraction": 1.0}]
    retried = {**SCENARIO, "faults": failing, "router": {"strategy": "round_robin", "retries": {"max": 1, "on": [500]}}}
    assert _serve_and_send(tmp_path, retried, 6) == [200] * 6
    alone = {**SCENARIO, "faults": failing, "router": {"strategy": "round_robin", "retries": {"max": 1, "on": [503]}}}
    assert _serve_and_send(tmp_path, alone, 6) == [500, 200] * 3  # 500 is not retried


def test_backend_metrics_show_queue_depth_and_busy_slots(service: str) -> None:
    backend = service.rsplit(":", 1)[0] + ":" + str(int(service.rsplit(":", 1)[1]) + 1)
    post(service, MESSAGE)
    with urllib.request.urlopen(backend + "/metrics", timeout=5) as response:
        text = response.read().decode()
    for name in (
        "orchsim_backend_queue_depth",
        "orchsim_backend_busy_slots",
        "orchsim_backend_requests_total",
        "orchsim_backend_latency_seconds_bucket",
        "orchsim_backend_ttft_seconds",
    ):
        assert name in text
