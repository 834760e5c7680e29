"""``orchsim serve``: start the mock topology (a router and one backend process per cluster) on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from sim.scenario import Scenario

__all__ = [
    "PORT_IN_USE_EXIT",
    "PortInUseError",
    "Topology",
    "TopologyError",
    "check_ports",
    "supervise",
    "wait_until",
]

PORT_IN_USE_EXIT = 98  # a mock process's exit status when its port is taken (EADDRINUSE) as it binds


class TopologyError(Exception):
    """The topology cannot start (port in use, a child died, not ready in time)."""


class PortInUseError(TopologyError):
    """A port of the topology is taken: at the check, or by another process between the check and the bind."""


def check_ports(ports: list[int]) -> None:
    """TopologyError naming the first port on 127.0.0.1 that is already taken."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                raise PortInUseError(f"--port: 127.0.0.1:{port} is already in use") from None


@dataclass
class Topology:
    """The child processes of one mock service; ``stop()`` ends every one of them."""

    scenario_path: Path
    scenario: Scenario
    port: int
    time_scale: float
    overrides: list[str]
    max_body_bytes: int = 1_000_000
    router_args: list[str] = field(default_factory=list)  # more options of the router (--rate-limit)
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        """Where faults and the probe clock are posted: the router itself."""
        return self.url

    def backend_port(self, cluster: int) -> int:
        return self.port + 1 + cluster

    def start(self, ready_timeout_s: float = 30.0) -> None:
        """Start every process and wait for ``/ready``; on failure stop what was started."""
        ports = [self.port, *(self.backend_port(i) for i in range(len(self.scenario.clusters)))]
        check_ports(ports)
        sets = [arg for override in self.overrides for arg in ("--set", override)]
        common = [
            str(self.scenario_path),
            "--time-scale",
            str(self.time_scale),
            "--max-body",
            str(self.max_body_bytes),
            *sets,
        ]
        reserve = [arg for port in ports for arg in ("--reserve", str(port))]  # servers take free ports, not these
        try:
            for i, cluster in enumerate(self.scenario.clusters):
                self._spawn(
                    f"backend {cluster.name}",
                    "loadtest.mock.backend",
                    [*common, "--cluster", str(i), "--port", str(self.backend_port(i)), *reserve],
                )
            self._spawn(
                "router",
                "loadtest.mock.router",
                [
                    *common,
                    "--port",
                    str(self.port),
                    "--backend-port-base",
                    str(self.backend_port(0)),
                    *self.router_args,
                ],
            )
            self._wait_ready(ready_timeout_s)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name: str, module: str, args: list[str]) -> None:
        self.children[name] = subprocess.Popen([sys.executable, "-m", module, *args], stdin=subprocess.DEVNULL)

    def _wait_ready(self, timeout_s: float) -> None:
        if not wait_until(self.check_children, self.ready, timeout_s):
            raise TopologyError(f"the mock service was not ready within {timeout_s:g} s")

    def ready(self) -> bool:
        """True once the router answers ``/ready`` with 200."""
        try:
            with urllib.request.urlopen(f"{self.url}/ready", timeout=1) as response:
                return bool(response.status == 200 and json.load(response)["ready"])
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def check_children(self) -> None:
        """TopologyError if a child process has exited (PortInUseError: its port was taken after the check)."""
        for name, child in self.children.items():
            code = child.poll()
            if code == PORT_IN_USE_EXIT:
                last = self.backend_port(len(self.scenario.clusters) - 1)
                raise PortInUseError(f"--port: {name}: its port (of 127.0.0.1:{self.port}..{last}) is already in use")
            if code is not None:
                raise TopologyError(f"{name} exited with code {code}")

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM every child, then SIGKILL what is still running after ``grace_s``."""
        for child in self.children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + grace_s
        for child in self.children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def serve_forever(self) -> int:
        """Supervise until SIGINT/SIGTERM (exit 0) or a child dies (exit 1); stop everything either way."""
        return supervise(self.check_children, self.stop)


def wait_until(check: Callable[[], None], ready: Callable[[], bool], timeout_s: float) -> bool:
    """Poll ``ready`` (``check`` raising if a process died meanwhile) until True or ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        check()
        if ready():
            return True
        time.sleep(0.05)
    return False


def supervise(check: Callable[[], None], stop: Callable[[], None]) -> int:
    """Call ``check`` until SIGINT/SIGTERM (0) or it raises TopologyError (1); ``stop`` runs either way."""
    stopping = {"signal": 0}

    def on_signal(number: int, frame: FrameType | None) -> None:
        stopping["signal"] = number

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping["signal"]:
            check()
            time.sleep(0.2)
        return 0
    except TopologyError as exc:
        print(f"orchsim serve: {exc}; stopping", file=sys.stderr)
        return 1
    finally:
        stop()
        for number, handler in previous.items():
            signal.signal(number, handler)
