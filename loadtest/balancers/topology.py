"""A real balancer (HAProxy or nginx) in front of the mock backends, on 127.0.0.1.

The backends are the ones ``orchsim serve`` starts. orchsim's own router also runs, on ports the
OS picks, but only as the admin endpoint: it forwards ``POST /admin/faults`` to the backend of the
fault's cluster (the balancer knows nothing of them) and answers ``/admin/clock``. Requests go
through the balancer alone. ``stop()`` ends the balancer, then the mock; nothing else.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from loadtest.balancers.binary import foreground_command, version
from loadtest.balancers.configs import config_text
from loadtest.balancers.mapping import BalancerPlan, ServerAddress
from loadtest.mock.topology import PortInUseError, Topology, TopologyError, check_ports, supervise, wait_until
from sim.scenario import Scenario

__all__ = ["BalancedTopology", "free_port_block"]

PORT_TRIES = 20
MOCK_TRIES = 5  # blocks of ports the mock is started on, when others take one as it starts
PR_SET_PDEATHSIG = 1  # prctl(2)


def free_port_block(count: int) -> int:
    """The first of ``count`` consecutive free ports on 127.0.0.1, the first one picked by the OS."""
    for _ in range(PORT_TRIES):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            first = int(probe.getsockname()[1])
        if first + count > 65535:
            continue
        try:
            check_ports(list(range(first, first + count)))
        except TopologyError:
            continue
        return first
    raise TopologyError(f"no {count} consecutive free ports found on 127.0.0.1 in {PORT_TRIES} tries")


def _die_with_parent() -> None:
    """In the balancer's process, before exec: SIGTERM it when orchsim goes, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class BalancedTopology:
    """The mock backends, orchsim's router as the admin endpoint, and the balancer at ``port``."""

    plan: BalancerPlan
    scenario_path: Path
    scenario: Scenario
    port: int
    folder: Path  # the run folder: the balancer's config, its log and (nginx) its prefix go here
    overrides: list[str] = field(default_factory=list)
    mock: Topology | None = None
    process: subprocess.Popen[bytes] | None = None
    version: str = ""
    servers: list[ServerAddress] = field(default_factory=list)  # where the balancer sends, once started

    @property
    def implementation(self) -> str:
        return self.plan.implementation

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        """Where faults and the probe clock are posted (orchsim's router, forwarding to the backends)."""
        return self.mock.url if self.mock is not None else self.url

    @property
    def config_path(self) -> Path:
        return self.folder / f"{self.implementation}.conf"

    def start(self, ready_timeout_s: float = 30.0) -> None:
        """Backends, admin router, then the balancer; wait until it answers. On failure stop what started."""
        self.folder = self.folder.resolve()
        command = foreground_command(self.implementation, self.config_path, self.folder / "nginx")
        self.version = version(self.implementation)
        check_ports([self.port])
        try:
            self._start_mock(ready_timeout_s)
            self.servers = self._addresses()
            self._write_config(self.servers)
            self._spawn(command)
            self._wait_answering(ready_timeout_s)
        except BaseException:
            self.stop()
            raise

    def _start_mock(self, ready_timeout_s: float) -> None:
        """The mock on a block of ports free now, and on another block when a port of it is taken
        between the check and the bind (the ports are ours to choose, unlike ``--port``)."""
        time_scale = 1.0 / self.plan.interval_scale
        for attempt in range(MOCK_TRIES):
            admin_port = free_port_block(len(self.scenario.clusters) + 1)
            self.mock = Topology(
                self.scenario_path, self.scenario, admin_port, time_scale, self.overrides, self.plan.max_body_bytes
            )
            try:
                self.mock.start(ready_timeout_s)  # stops what it started when it fails
                return
            except PortInUseError:
                if attempt == MOCK_TRIES - 1:
                    raise

    def _addresses(self) -> list[ServerAddress]:
        assert self.mock is not None
        with urllib.request.urlopen(f"http://127.0.0.1:{self.mock.backend_port(0)}/servers", timeout=5) as answer:
            states = json.load(answer)["servers"]
        return [ServerAddress(f"{self.plan.pool}-{s['index']}", "127.0.0.1", int(s["port"])) for s in states]

    def _write_config(self, servers: list[ServerAddress]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "nginx").mkdir(exist_ok=True)
        text = config_text(self.plan, servers, self.port, self.scenario_path.name, serving=True)
        self.config_path.write_text(text)

    def _spawn(self, command: list[str]) -> None:
        log = (self.folder / f"{self.implementation}.log").open("wb")
        with log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
                start_new_session=True,  # its own group: nginx's workers are stopped with their master
                preexec_fn=_die_with_parent,
            )

    def _wait_answering(self, timeout_s: float) -> None:
        if not wait_until(self.check_children, self.ready, timeout_s):
            raise TopologyError(f"{self.implementation} did not answer within {timeout_s:g} s ({self._log_tail()})")

    def ready(self) -> bool:
        """True once a request through the balancer reaches a server (GET /health answers 200)."""
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def check_children(self) -> None:
        """TopologyError if the balancer or a mock process has exited (PortInUseError: its port was taken)."""
        if self.process is not None and (code := self.process.poll()) is not None:
            if "Address already in use" in self._log_tail():  # taken between the check and the bind
                raise PortInUseError(f"--port: 127.0.0.1:{self.port} is already in use ({self._log_tail()})")
            raise TopologyError(f"{self.implementation} exited with code {code} ({self._log_tail()})")
        if self.mock is not None:
            self.mock.check_children()

    def _log_tail(self) -> str:
        path = self.folder / f"{self.implementation}.log"
        lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
        return " | ".join(lines[-3:]) if lines else f"nothing in {path}"

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the balancer (both stop at once on it), SIGKILL its process group after ``grace_s``;
        then the mock."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            with contextlib.suppress(ProcessLookupError):  # nginx workers left by a master that was killed
                os.killpg(self.process.pid, signal.SIGKILL)
        if self.mock is not None:
            self.mock.stop(grace_s)

    def serve_forever(self) -> int:
        """Supervise until SIGINT/SIGTERM (0) or a process dies (1); stop everything either way."""
        return supervise(self.check_children, self.stop)
