"""The mock service's faults as the simulator plays them: crash (refused connections, in-flight work
failed or lost), drain, healthcheck_flap, router_saturation, and request classes' work.

Each test that starts ``orchsim serve`` stops it in a ``finally`` (``serving``), even on failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
import yaml

from loadtest.errors import error_status
from loadtest.mock.injection import planned_injections
from sim.engine.faults import target_indices
from sim.scenario.loading import parse_scenario
from tests.conftest import wait_for, wait_for_async
from tests.test_mock_service import JSON, MESSAGE, SCENARIO, post, serve_process, serving

SLOW = {"kind": "deterministic", "mean": "10s"}  # 1 s real at time scale 10
HELD_S = 4.0  # real seconds a HELD request takes: a fault posted once the test sees it held lands well within
HELD = {"kind": "deterministic", "mean": f"{10 * HELD_S:g}s"}  # at time scale 10


def scenario(**changes: Any) -> dict[str, Any]:
    """SCENARIO with top-level keys replaced; ``cluster=`` updates its one cluster."""
    cluster = {**cast(list[dict[str, Any]], SCENARIO["clusters"])[0], **changes.pop("cluster", {})}
    return {**SCENARIO, "clusters": [cluster], **changes}


def admin(url: str, fault: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{url}/admin/faults",
        data=json.dumps(fault).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.load(exc)


def backend(url: str) -> str:
    host, port = url.rsplit(":", 1)
    return f"{host}:{int(port) + 1}"


def servers(url: str) -> list[dict[str, Any]]:
    """The backend's discovery snapshot of cluster a."""
    with urllib.request.urlopen(backend(url) + "/servers", timeout=5) as response:
        found: list[dict[str, Any]] = json.load(response)["servers"]
    return found


def served(url: str) -> dict[str, int]:
    """200 answers per server, from the backend's metrics."""
    with urllib.request.urlopen(backend(url) + "/metrics", timeout=5) as response:
        lines = response.read().decode().splitlines()
    counts = {}
    for line in lines:
        if line.startswith("orchsim_backend_requests_total{") and 'code="200"' in line:
            counts[line.split('server="')[1].split('"')[0]] = int(float(line.split()[-1]))
    return counts


def busy(url: str) -> dict[str, int]:
    """Slots serving per server, from the backend's metrics: a request the test sees held."""
    with urllib.request.urlopen(backend(url) + "/metrics", timeout=5) as response:
        lines = response.read().decode().splitlines()
    prefix = "orchsim_backend_busy_slots{"
    return {
        line.split('server="')[1].split('"')[0]: int(float(line.split()[-1]))
        for line in lines
        if line.startswith(prefix)
    }


def _router_capacity(url: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        line = next(x for x in response.read().decode().splitlines() if x.startswith("orchsim_router_capacity "))
    return float(line.split()[1])


async def _until_busy(url: str, expected: dict[str, int]) -> None:
    await wait_for_async(lambda: busy(url) == expected, f"busy slots per server {expected}")


def router_view(url: str) -> list[dict[str, Any]]:
    """The router's view of cluster a's servers (up, drained, healthy, ejected, in flight)."""
    with urllib.request.urlopen(url + "/servers", timeout=5) as response:
        view: list[dict[str, Any]] = json.load(response)["a"]
    return view


def refused(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


async def _send(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, float, str]:
    """(status, real seconds, body text) of one request through the router."""
    started = time.perf_counter()
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session,
        session.post(f"{url}/v1/chat/completions", json=body, headers=headers or {}) as response,
    ):
        text = await response.text()
        return response.status, time.perf_counter() - started, text


async def _stream(url: str, body: dict[str, Any], began: asyncio.Event) -> tuple[int, float, str]:
    """``_send`` of a stream, setting ``began`` once its first token has come."""
    started = time.perf_counter()
    lines = []
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
        session.post(f"{url}/v1/chat/completions", json=body) as response,
    ):
        async for line in response.content:
            lines.append(line.decode())
            if "tok0" in lines[-1]:
                began.set()
        return response.status, time.perf_counter() - started, "".join(lines)


def test_a_crashed_server_refuses_connections_and_the_router_sees_it_at_once(tmp_path: Path) -> None:
    """No health checks: as in the simulator the router sees the crash at once, so nothing is lost;
    the server's own port refuses connections until the crash ends."""
    crashed = scenario(
        router={"strategy": "round_robin"},
        faults=[{"kind": "crash", "target": "a/0", "at": 0, "duration": "1h"}],
    )
    with serving(tmp_path, crashed, "--time-scale", "10") as url:
        state = servers(url)
        codes = [post(url, MESSAGE)[0] for _ in range(4)]
        assert [s["up"] for s in state] == [False, True]
        assert refused(state[0]["port"]) and not refused(state[1]["port"])
        assert served(url) == {"1": 4}
    assert codes == [200] * 4


def test_a_crash_not_yet_noticed_by_health_checks_answers_503_like_the_simulator(tmp_path: Path) -> None:
    """Probes too rare to notice: round robin sends every other request to the dead server, and the
    router answers 503 (connection refused), the code the simulator records for it."""
    crashed = scenario(
        router={"strategy": "round_robin", "health_check": {"interval": "1h"}},
        faults=[{"kind": "crash", "target": "a/0", "at": 0, "duration": "1h"}],
    )
    with serving(tmp_path, crashed, "--time-scale", "10") as url:
        answers = [post(url, MESSAGE) for _ in range(4)]
    assert sorted(code for code, _, _ in answers) == [200, 200, 503, 503]
    refusals = [(body, headers) for code, body, headers in answers if code == 503]
    assert all("backend unavailable" in body["error"]["message"] for body, _ in refusals)
    assert all(headers["Retry-After"] == "1" for _, headers in refusals)


def test_in_flight_requests_fail_with_500_at_once_and_the_server_comes_back(tmp_path: Path) -> None:
    """Server 0 holds a whole answer and a stream (HELD_S real each); a crash fails both at once:
    a 500, and an SSE error frame with code server_error (a 500) in the stream that had begun.
    After it, it serves again. Each request is sent once the one before is held (round robin: servers
    0, 1, 0), the crash once all three are."""
    slow = scenario(router={"strategy": "round_robin"}, cluster={"service": HELD})
    with serving(tmp_path, slow, "--time-scale", "10") as url:

        async def run() -> list[tuple[int, float, str]]:
            held = []
            for body, now_busy in (
                (MESSAGE, {"0": 1, "1": 0}),
                (MESSAGE, {"0": 1, "1": 1}),
                ({**MESSAGE, "stream": True}, {"0": 2, "1": 1}),
            ):
                held.append(asyncio.create_task(_send(url, body)))
                await _until_busy(url, now_busy)
            assert admin(url, {"cluster": "a", "server": 0, "kind": "crash", "duration_s": 0.3})[0] == 200
            return list(await asyncio.gather(*held))

        (whole, other, streamed) = asyncio.run(run())
        wait_for(lambda: [s["up"] for s in router_view(url)] == [True, True], "the router to see server 0 back")
        state = servers(url)
        after = [post(url, MESSAGE)[0] for _ in range(2)]
    assert whole[0] == 500 and whole[1] < HELD_S and "crashed" in json.loads(whole[2])["error"]["message"]
    assert other[0] == 200 and other[1] >= HELD_S
    assert streamed[0] == 200 and streamed[1] < HELD_S
    frames = [json.loads(line[6:]) for line in streamed[2].splitlines() if line.startswith("data: {")]
    assert frames[-1]["error"]["code"] == "server_error" and error_status(frames[-1]["error"]) == 500
    assert "[DONE]" not in streamed[2]
    assert [s["up"] for s in state] == [True, True] and after == [200, 200]


def test_lost_in_flight_requests_get_no_answer_until_the_client_times_out(tmp_path: Path) -> None:
    """in_flight: lost. The held stream (HELD_S real) is never answered after its first token: the
    router's client timeout (1.5 x HELD_S) ends it, not the crash, posted once the first token came."""
    timeout_s = 1.5 * HELD_S
    slow = scenario(
        router={"strategy": "round_robin"}, cluster={"service": HELD}, clients={"timeout": f"{10 * timeout_s:g}s"}
    )
    with serving(tmp_path, slow, "--time-scale", "10") as url:

        async def run() -> tuple[int, float, str]:
            began = asyncio.Event()
            held = asyncio.create_task(_stream(url, {**MESSAGE, "stream": True}, began))
            await asyncio.wait_for(began.wait(), timeout=30)
            fault = {"cluster": "a", "server": None, "kind": "crash", "duration_s": 60, "in_flight": "lost"}
            assert admin(url, fault)[0] == 200
            return await held

        status, elapsed, text = asyncio.run(run())
    assert status == 200 and elapsed >= timeout_s - 0.1  # the stream had begun; nothing came after the crash
    assert '"code": "timeout"' in text and "tok0" in text and "tok4" not in text


def test_server_that_really_dies_is_reported_and_everything_stops(tmp_path: Path) -> None:
    """A backend process killed outright: orchsim serve says which one, stops the rest, exits 1."""
    path = tmp_path / "mock.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    log = tmp_path / "stderr.log"
    with serve_process(path, ["--time-scale", "10"], log) as (url, process):
        child = next(pid for pid in _children(process.pid) if b"loadtest.mock.backend" in _cmdline(pid))
        os.kill(child, signal.SIGKILL)
        code = process.wait(timeout=60)
    assert code == 1
    assert "backend a exited with code -9; stopping" in log.read_text()
    assert refused(int(url.rsplit(":", 1)[1]))  # the router went too


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def test_drain_retires_servers_one_by_one_in_the_simulators_order(tmp_path: Path) -> None:
    """Three servers drained over 20 s (2 s real): one at the start, one per second after, in the
    order the simulator draws; then every request is refused (503), as in the simulator."""
    drained = scenario(cluster={"servers": 3}, faults=[{"kind": "drain", "target": "a", "at": 0, "duration": "20s"}])
    parsed = parse_scenario(drained, "drain.yaml")
    _, order = target_indices(parsed.faults[0], list(parsed.clusters), parsed.seed, 0)
    seen: list[tuple[float, int]] = []
    with serving(tmp_path, drained, "--time-scale", "10") as url:
        start = time.monotonic()
        while len(seen) < 3 and time.monotonic() - start < 30:  # 2 s real; generous on a busy machine
            for s in servers(url):
                if s["drained"] and s["index"] not in [i for _, i in seen]:
                    seen.append((time.monotonic(), s["index"]))
            time.sleep(0.02)
        status, body, _ = post(url, MESSAGE)
    assert [i for _, i in seen] == order
    assert status == 503 and body["error"]["message"] == "no server to send to"
    # the spacing is the plan's (the loop may run late on a busy machine; the instants it aims at do not)
    plan = planned_injections(parsed, parsed.seed, 10.0)
    assert [(at_s, injection.server) for at_s, injection in plan] == [(0.0, order[0]), (1.0, order[1]), (2.0, order[2])]


def test_a_drained_server_finishes_what_it_holds_and_gets_nothing_new(tmp_path: Path) -> None:
    """Drained while it holds a request (sent first: round robin starts at server 0, drained once it is
    seen held), server 0 finishes it; the two sent once the router sees the drain go to server 1."""
    slow = scenario(router={"strategy": "round_robin"}, cluster={"service": SLOW})
    with serving(tmp_path, slow, "--time-scale", "10") as url:

        async def run() -> list[tuple[int, float, str]]:
            held = asyncio.create_task(_send(url, MESSAGE))
            await wait_for_async(lambda: busy(url) == {"0": 1, "1": 0}, "server 0 to hold the first request")
            assert admin(url, {"cluster": "a", "server": 0, "kind": "drain"})[0] == 200
            await wait_for_async(lambda: router_view(url)[0]["drained"], "the router to see the drain")
            later = [asyncio.create_task(_send(url, MESSAGE)) for _ in range(2)]
            return list(await asyncio.gather(held, *later))

        results = asyncio.run(run())
        counts = served(url)
        permanent = admin(url, {"cluster": "a", "server": 1, "kind": "drain", "duration_s": 5})
    assert [code for code, _, _ in results] == [200, 200, 200]
    assert counts == {"0": 1, "1": 2}  # the later two both went to server 1
    assert permanent[0] == 400 and permanent[1]["error"]["param"] == "duration_s"


def test_healthcheck_flap_fails_that_share_of_probes(tmp_path: Path) -> None:
    """Flap fraction 0.5 on server 0: 400 direct probes, 50% fail (binomial sd 2.5%: 40-60% holds
    with 4 sd to spare); server 1's probes all pass. With fraction 1 and checks every 1 s (0.1 s real)
    the router takes server 0 out and sends it nothing."""
    flapping = scenario(
        router={"strategy": "round_robin", "health_check": {"interval": "1h"}},  # the router never probes
        faults=[{"kind": "healthcheck_flap", "target": "a/0", "at": 0, "duration": "1h", "fraction": 0.5}],
    )
    with serving(tmp_path, flapping, "--time-scale", "10") as url:
        ports = [s["port"] for s in servers(url)]
        failed = [sum(_probe(port) != 200 for _ in range(400)) for port in ports]
    assert 160 <= failed[0] <= 240 and failed[1] == 0
    checked = scenario(
        router={"strategy": "round_robin", "health_check": {"interval": 1, "unhealthy_threshold": 1}},
        faults=[{"kind": "healthcheck_flap", "target": "a/0", "at": 0, "duration": "1h", "fraction": 1.0}],
    )
    with serving(tmp_path, checked, "--time-scale", "10") as url:
        wait_for(lambda: [s["healthy"] for s in router_view(url)] == [False, True], "a failed probe of server 0")
        codes = [post(url, MESSAGE)[0] for _ in range(4)]
        counts = served(url)
    assert codes == [200] * 4 and counts == {"1": 4}


def _probe(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def test_router_saturation_scales_the_routers_capacity(tmp_path: Path) -> None:
    """Capacity 4 x factor 0.5 = 2 during the fault: of four held requests two are refused by the
    router (503); injected at runtime for 1 s, then the full capacity is back."""
    saturated = scenario(
        router={"strategy": "round_robin", "instances": 2, "concurrency": 2},
        cluster={"service": SLOW},
        faults=[{"kind": "router_saturation", "target": "router", "at": 0, "duration": "1h", "factor": 0.5}],
    )
    with serving(tmp_path, saturated, "--time-scale", "10") as url:
        codes = asyncio.run(_burst(url, 4))
    assert sorted(codes) == [200, 200, 503, 503]
    unsaturated = {**saturated, "faults": []}
    with serving(tmp_path, unsaturated, "--time-scale", "10") as url:
        assert admin(url, {"kind": "router_saturation", "value": 0.25, "duration_s": 1.0})[0] == 200
        during = asyncio.run(_burst(url, 2))
        wait_for(lambda: _router_capacity(url) == 4, "the router's capacity back after the fault")
        after = asyncio.run(_burst(url, 4))
        bad = admin(url, {"kind": "router_saturation", "value": 1.5})
    assert sorted(during) == [200, 503] and after == [200] * 4
    assert bad[0] == 400 and bad[1]["error"]["param"] == "value"


async def _burst(url: str, count: int) -> list[int]:
    return [status for status, _, _ in await asyncio.gather(*(_send(url, MESSAGE) for _ in range(count)))]


def test_request_class_work_multiplies_the_service_time(tmp_path: Path) -> None:
    """Deterministic 1 s x work: 0.1 s real for light (work 1), 0.3 s for heavy (work 3), as the
    backend reports it; with a request's own draw (exponential, u = 0.5: ln 2 s) the work multiplies
    that draw, as in the simulator. An unknown class is refused with 400 by the router and the server."""
    classes = scenario(
        workload={"rate": 5, "classes": [{"name": "light", "work": 1}, {"name": "heavy", "work": 3}]},
        router={"strategy": "least_outstanding_work"},
    )
    with serving(tmp_path, classes, "--time-scale", "10") as url:
        light, heavy, plain = (post_as(url, klass) for klass in ("light", "heavy", None))
        direct = post_as(f"http://127.0.0.1:{servers(url)[0]['port']}", "nope")
        unknown = post_as(url, "nope")
    exponential = {
        **classes,
        "clusters": [{**classes["clusters"][0], "service": {"kind": "exponential", "mean": "1s"}}],
    }
    with serving(tmp_path, exponential, "--time-scale", "10") as url:
        drawn = [post_as(url, klass, service_u=0.5) for klass in ("light", "heavy")]
    assert [r[0] for r in (light, heavy, plain, *drawn)] == [200] * 5
    assert [float(r[2]["X-Orchsim-Service-S"]) for r in (light, heavy, plain)] == [0.1, 0.3, 0.1]
    assert [float(r[2]["X-Orchsim-Service-S"]) for r in drawn] == pytest.approx([0.0693147, 0.2079442], abs=2e-6)
    for code, body, _ in (direct, unknown):
        assert code == 400 and body["error"]["param"] == "X-Orchsim-Class"
        assert body["error"]["message"] == "X-Orchsim-Class: unknown request class 'nope' (known: heavy, light)"


def post_as(url: str, klass: str | None, service_u: float | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    """MESSAGE as a request of class ``klass`` (None: no header), with its own service draw if given."""
    body = MESSAGE if service_u is None else {**MESSAGE, "metadata": {"orchsim_service_u": repr(service_u)}}
    return post(url, body, headers={"X-Orchsim-Class": klass} if klass else None)


def _post_clock(url: str, data: bytes = b"{}") -> dict[str, Any]:
    request = urllib.request.Request(f"{url}/admin/clock", data=data, method="POST", headers=JSON)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            answer: dict[str, Any] = json.load(response)
    except urllib.error.HTTPError as exc:
        with exc:
            return {"status": exc.code, **json.load(exc)}
    return answer


def test_admin_clock_puts_the_health_probes_on_the_load_generators_time_axis(tmp_path: Path) -> None:
    """Probes every 10 s (2.5 s real at time scale 4): after ``POST /admin/clock`` at T the next probe
    is at T + 2.5 s, as the simulator's first probe comes one interval after its start. A crash just
    after T is therefore not noticed before T + 2.5 s (round robin still meets the dead server: 503),
    and once the router has marked it down every answer is 200. The only deadline the test keeps is
    looking before the first probe: over a second of margin."""
    interval_s = 2.5
    checks = {"interval": 10, "timeout": 5, "unhealthy_threshold": 1}
    checked = scenario(router={"strategy": "round_robin", "health_check": checks})
    with serving(tmp_path, checked, "--time-scale", "4") as url:
        bodies = {
            b'{"epoch_monotonic_s": "soon"}': "epoch_monotonic_s",
            b'{"epoch_monotonic_s": NaN}': "epoch_monotonic_s",
        }
        for bad, part in {**bodies, b"{not json": "body"}.items():
            refused = _post_clock(url, bad)
            assert refused["status"] == 400 and refused["error"]["param"] == part, refused
        _post_clock(url)  # a known phase: probes due 1, 2, ... intervals from here
        time.sleep(0.75 * interval_s)  # time passing is the point: unrestarted, a probe would come 0.25 later
        started = time.monotonic()
        assert _post_clock(url) == {"probes": "restarted", "interval_s": interval_s}
        assert admin(url, {"kind": "crash", "cluster": "a", "server": 0, "duration_s": 60})[0] == 200
        wait_for(lambda: not servers(url)[0]["up"], "the crash")
        early = [post(url, MESSAGE)[0] for _ in range(2)]
        assert time.monotonic() < started + 0.95 * interval_s, "too slow to check before the first probe"
        wait_for(lambda: not router_view(url)[0]["healthy"], "the first probe to find server 0 down")
        noticed = time.monotonic()
        late = [post(url, MESSAGE)[0] for _ in range(4)]
    assert sorted(early) == [200, 503]
    assert noticed >= started + interval_s - 0.05 and late == [200] * 4


def test_a_fault_posted_ahead_starts_at_its_due_instant(tmp_path: Path) -> None:
    """``at_monotonic_s`` two seconds ahead: the server is up until then and down from then on."""
    with serving(tmp_path, scenario(router={"strategy": "round_robin"}), "--time-scale", "10") as url:
        due = time.monotonic() + 2.0
        assert (
            admin(url, {"kind": "crash", "cluster": "a", "server": 0, "duration_s": 60, "at_monotonic_s": due})[0]
            == 200
        )
        before = servers(url)[0]["up"]
        assert time.monotonic() < due - 0.1, "too slow to look before the fault's instant"
        wait_for(lambda: not servers(url)[0]["up"], "the fault at its instant")
        down = time.monotonic()
    assert before is True and down >= due  # never before its instant (observed down is never earlier)
