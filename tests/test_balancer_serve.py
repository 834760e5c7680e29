"""Real HAProxy and nginx in front of the mock backends: requests pass, faults reach the backends,
and every process started is gone afterwards (also when serve is stopped with SIGTERM)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import loadtest.balancers.topology
import loadtest.mock.topology
from loadtest.balancers.serve import balanced_topology
from loadtest.balancers.topology import BalancedTopology
from loadtest.mock.topology import TopologyError
from sim.scenario.loading import load_scenario
from sim.scenario.paths import scenarios_dir
from tests.balancer_helpers import binary_or_skip
from tests.conftest import wait_for
from tests.test_mock_service import on_free_ports, serve_process

SCENARIO = scenarios_dir() / "validate-crash.yaml"  # health checks: both balancers map it
REPO = Path(__file__).resolve().parent.parent


def _chat(url: str, stream: bool = False) -> tuple[int, bytes]:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "stream": stream}
    request = urllib.request.Request(
        f"{url}/v1/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
    return status != "Z"


def _program(pid: int) -> str:
    """The program ``pid`` runs (the first word of its command line)."""
    return Path(f"/proc/{pid}/cmdline").read_text().split("\0")[0]


def _family(pid: int) -> list[int]:
    """``pid`` and its children (nginx: the master and its workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid, *(int(c) for c in children.read_text().split())] if children.exists() else [pid]


def started_topology(
    implementation: str, folder: Path, failed: list[str] | None = None, path: Path = SCENARIO
) -> BalancedTopology:
    """A balanced topology of scenario ``path`` started on a port free now, and on another one when the
    balancer finds it taken (the mock's own ports are the topology's to retry); each failed start is
    added to ``failed``."""
    scenario = load_scenario(path)

    def attempt(port: int) -> BalancedTopology | TopologyError:
        topology = balanced_topology(path, scenario, implementation, port, 10.0, folder, [])
        try:
            topology.start(ready_timeout_s=60)  # stops what it started when it fails
        except TopologyError as exc:
            (failed if failed is not None else []).append(str(exc))
            return exc
        return topology

    started = on_free_ports(1, attempt, lambda result: str(result) if isinstance(result, TopologyError) else "")
    if isinstance(started, TopologyError):
        raise started
    return started


@pytest.fixture(params=["haproxy", "nginx"])
def topology(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BalancedTopology]:
    binary_or_skip(request.param)
    started = started_topology(request.param, tmp_path / request.param)
    try:
        yield started
    finally:
        started.stop()


def _hold(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:``port``: the port is someone else's until it is closed."""
    held = socket.socket()
    held.bind(("127.0.0.1", port))
    held.listen()
    return held


@pytest.mark.parametrize("when", ["before the check", "between the check and the bind"])
def test_the_mock_starts_on_other_ports_when_its_first_block_is_taken(
    when: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ports of the mock behind the balancer are chosen by the topology: another process taking
    one of them as it starts (here: this test, holding a socket) sends it to another block."""
    binary_or_skip("haproxy")
    held: list[socket.socket] = []
    chosen: list[int] = []
    choose, check = loadtest.balancers.topology.free_port_block, loadtest.mock.topology.check_ports

    def choose_then_take(count: int) -> int:
        chosen.append(choose(count))
        if when == "before the check" and len(chosen) == 1:
            held.append(_hold(chosen[0]))
        return chosen[-1]

    def check_then_take(ports: list[int]) -> None:
        check(ports)
        if when != "before the check" and not held:
            held.append(_hold(ports[1]))  # the backend's port, once checked free: its bind fails

    monkeypatch.setattr(loadtest.balancers.topology, "free_port_block", choose_then_take)
    monkeypatch.setattr(loadtest.mock.topology, "check_ports", check_then_take)
    failed: list[str] = []
    try:
        topology = started_topology("haproxy", tmp_path / "haproxy", failed)
        try:
            assert not [line for line in failed if str(chosen[0]) in line], failed  # the topology retried, not we
            assert len(chosen) >= 2 and held, (chosen, held)
            assert topology.mock is not None and topology.mock.port == chosen[-1] != chosen[0]
            assert _chat(topology.url)[0] == 200
        finally:
            topology.stop()
    finally:
        for socket_held in held:
            socket_held.close()


def test_requests_pass_through_the_balancer_and_faults_reach_the_backends(topology: BalancedTopology) -> None:
    assert topology.process is not None
    family = _family(topology.process.pid)
    statuses = [_chat(topology.url)[0] for _ in range(6)]
    assert statuses == [200] * 6
    status, streamed = _chat(topology.url, stream=True)
    assert status == 200 and streamed.rstrip().endswith(b"data: [DONE]")
    fault = {"kind": "error_rate", "cluster": "pool", "value": 1.0, "duration_s": 0}
    posted = urllib.request.Request(
        f"{topology.admin_url}/admin/faults", json.dumps(fault).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(posted, timeout=10) as answer:
        assert answer.status == 200
    deadline = time.monotonic() + 10
    while _chat(topology.url)[0] != 500 and time.monotonic() < deadline:  # applied on the backend's next turn
        pass
    assert [_chat(topology.url)[0] for _ in range(3)] == [500] * 3  # every server answers 500 now
    assert f"127.0.0.1:{topology.port}" in topology.config_path.read_text()
    topology.stop()
    assert not [pid for pid in family if _alive(pid)], f"{topology.implementation} processes left: {family}"
    assert topology.mock is not None and all(child.poll() is not None for child in topology.mock.children.values())


def _pids_running(needle: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return [pid for pid in found if _alive(pid)]


@pytest.mark.parametrize("implementation", ["haproxy", "nginx"])
def test_serve_behind_a_balancer_stops_it_on_sigterm(implementation: str, tmp_path: Path) -> None:
    binary_or_skip(implementation)
    runs = tmp_path / "work"
    runs.mkdir()
    try:
        with serve_process(SCENARIO, ["--router", implementation], tmp_path / "serve.log", cwd=runs) as (url, serve):
            assert _chat(url)[0] == 200
            folder = next((runs / "runs").iterdir())
            assert _pids_running(str(folder)), "the balancer should run with its config in the run folder"
            serve.send_signal(signal.SIGTERM)
            assert serve.wait(timeout=60) == 0
            assert _pids_running(str(folder)) == []
            assert (folder / f"{implementation}.conf").exists()
    finally:
        for pid in _pids_running(str(runs)):  # what this test started, should serve have failed
            os.kill(pid, signal.SIGKILL)


def test_a_balancer_goes_when_serve_is_killed(tmp_path: Path) -> None:
    """SIGKILL leaves orchsim no chance to clean up; the balancer still goes (parent-death signal)."""
    binary_or_skip("haproxy")
    started: list[int] = []
    with serve_process(SCENARIO, ["--router", "haproxy"], tmp_path / "serve.log", cwd=tmp_path) as (_, serve):
        try:
            started = _family(serve.pid)[1:]  # the mock's processes and the balancer
            # the program's name, not the whole command line: the mock's arguments may name a path with "haproxy"
            balancer = [pid for pid in started if Path(_program(pid)).name == "haproxy"]
            assert balancer
            serve.kill()
            serve.wait()
            wait_for(lambda: not [pid for pid in balancer if _alive(pid)], "the balancer to go after serve")
        finally:
            if serve.poll() is None:
                serve.kill()
            for pid in started:  # the mock's processes: killed orchsim could not stop them
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("verb", "implementation", "package"), [("serve", "haproxy", "haproxy"), ("validate", "nginx", "nginx-light")]
)
def test_a_missing_binary_is_one_line_and_exit_2(verb: str, implementation: str, package: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "sim", verb, str(SCENARIO), "--router", implementation]
    env = {**os.environ, "PATH": str(tmp_path), "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr == f"{implementation} not found on PATH (Debian/Ubuntu: apt-get install {package})\n"
    assert not (tmp_path / "runs").exists()  # nothing started, no folder left behind
