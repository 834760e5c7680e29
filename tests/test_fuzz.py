"""Fuzzing (Hypothesis) of what users and clients send: scenario files and HTTP requests to the mock.
Whatever comes in, the answer is exit 2 or a 4xx with a message naming the place, never a
traceback or a 5xx, within a deadline. Examples are few, to stay within the test budget."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim.cli.commands  # noqa: F401  (imported once, before the deadlines)
from loadtest.mock import backend
from sim.cli.main import main
from sim.scenario.loading import ScenarioError, parse_scenario

BASE: dict[str, Any] = {"duration": 100, "workload": {"rate": 1}, "clusters": [{"name": "c", "servers": 1}]}
FIELDS = ["duration", "window", "warmup", "drain", "seed", "workload", "clusters", "faults", "router", "slo"]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["1ms", "5m", "2h", "-1s", "1e400", "crash", "slowdown", "c", "c/0", "llm", "router"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from([*FIELDS, "kind", "rate", "servers"]), inner, max_size=4),
    ),
    max_leaves=12,
)
# a deadline per example (wall time: generous, as the machine may be busy; a hang still fails it)
FAST = settings(max_examples=60, deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(changes=st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=3))
def test_scenarios_validate_or_name_the_field(changes: dict[str, Any]) -> None:
    try:
        parse_scenario({**BASE, **changes}, "fuzz.yaml")
    except ScenarioError as exc:
        assert exc.lines and all(line.startswith("fuzz.yaml: ") for line in exc.lines), exc.lines


@settings(
    FAST, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)  # capsys is read out each time
@given(text=st.one_of(st.text(max_size=200), VALUES.map(lambda v: yaml.safe_dump({**BASE, "faults": v}))))
def test_check_on_any_file_exits_0_or_2_naming_it(
    text: str, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "any.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    code = main(["check", str(path)])
    err = capsys.readouterr().err
    assert code in (0, 2) and "Traceback" not in err
    assert code == 0 or all("any.yaml" in line for line in err.splitlines()), err


REQUESTS = st.tuples(
    st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    st.sampled_from(["/admin/faults", "/health", "/servers", "/metrics", "/admin/nothing", "/%zz", "/" + "a" * 300]),
    st.one_of(st.binary(max_size=200), VALUES.map(lambda v: json.dumps(v).encode())),
    st.dictionaries(
        st.sampled_from(["Content-Type", "Origin", "Host", "Authorization", "X-Orchsim-Class"]),
        st.one_of(
            st.sampled_from(["application/json", "text/plain", "localhost", "http://evil", ""]),
            st.text("abc:/ ", max_size=20),
        ),
        max_size=3,
    ),
)
SCENARIO = parse_scenario(BASE, "fuzz.yaml")


def test_the_mock_answers_any_request_with_a_4xx_at_worst() -> None:
    async def body() -> None:
        async with TestClient(TestServer(backend.build_app(SCENARIO, 0, 1, 1.0), host="127.0.0.1")) as client:

            @settings(max_examples=150, deadline=None)
            @given(request=REQUESTS)
            def probe(request: tuple[str, str, bytes, dict[str, str]]) -> None:
                method, path, data, headers = request
                future = asyncio.run_coroutine_threadsafe(_send(client, method, path, data, headers), loop)
                status, text = future.result(timeout=5)
                assert status < 500, (request, status, text)
                if status >= 400 and text.startswith("{"):
                    error = json.loads(text)["error"]
                    assert error["message"], text

            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, probe)

    asyncio.run(body())


async def _send(
    client: TestClient[Any, Any], method: str, path: str, data: bytes, headers: dict[str, str]
) -> tuple[int, str]:
    async with client.request(method, path, data=data, headers=headers, skip_auto_headers=["Content-Type"]) as response:
        return response.status, await response.text()
