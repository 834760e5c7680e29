"""What the engine's unit tests (tests/test_engine_*.py) share: minimal stand-ins for an engine object's
collaborators, and a recorder of the (time, request, code) trace an object produces.

The stand-ins carry only what the object under test asks of them, so that each test drives one module
with a ``Kernel`` and hand-made inputs, never a whole ``Simulation``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from sim.engine.attempt import ABANDONED, DONE, ENDED, Attempt
from sim.engine.kernel import Kernel
from sim.rng import Draws, stream
from sim.scenario import Cluster as ClusterSpec
from sim.scenario import ServiceModel
from sim.workload.service import ServiceTimes

DET = ServiceModel(kind="deterministic", mean=1.0)


def attempt(req: int, sent_s: float = 0.0, *, number: int = 1, klass: int = 0, work: float = 1.0) -> Attempt:
    """A fresh attempt of request ``req`` (its session is the request)."""
    return Attempt(req, number, klass, req, work, sent_s)


def server_side_over(a: Attempt) -> None:
    """What the router's answer records on an attempt whose server side ended (a server ignores the late
    events of such an attempt): both sides over when its client gave up already, else its answer is on its
    way to the client. The one place these tests touch an attempt's state."""
    a.state = DONE if a.state is ABANDONED else ENDED


class Finish:
    """The ``finish`` callback a cluster or server is given: records ``(time, req, code)`` in order."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.trace: list[tuple[float, int, int]] = []
        self.attempts: list[Attempt] = []

    def __call__(self, a: Attempt, code: int) -> None:
        server_side_over(a)
        a.server_end_s = self.kernel.now
        self.trace.append((self.kernel.now, a.req, code))
        self.attempts.append(a)

    def rounded(self) -> list[tuple[float, int, int]]:
        """The trace with times rounded to the nanosecond (sums of float delays are a hair off)."""
        return [(round(t, 9), req, code) for t, req, code in self.trace]


class ClusterStub:
    """What a server, a health checker or an autoscaler asks of its cluster: the spec, where answers go,
    an (empty unless filled) central queue, and a note of each routing refresh."""

    def __init__(self, kernel: Kernel, spec: ClusterSpec, finish: Callable[[Attempt, int], None]) -> None:
        self.kernel = kernel
        self.spec = spec
        self.finish = finish
        self.central_queue: deque[Attempt] = deque()
        self.central_queued = 0
        self.partitioned = 0
        self.servers: list[Any] = []
        self.refreshes: list[float] = []

    def reject(self, a: Attempt, code: int) -> None:
        self.finish(a, code)

    def pop_central(self) -> Attempt | None:
        if not self.central_queue:
            return None
        self.central_queued -= 1
        return self.central_queue.popleft()

    def refresh_routable(self) -> None:
        self.refreshes.append(self.kernel.now)


def spec(service: ServiceModel = DET, **fields: Any) -> ClusterSpec:
    """A cluster spec named ``c`` with one server unless ``fields`` say otherwise."""
    fields.setdefault("servers", 1)
    return ClusterSpec(name="c", service=service, **fields)


def build_servers(kind: type[Any], kernel: Kernel, cluster: ClusterStub, count: int = 1) -> list[Any]:
    """``count`` servers of ``kind`` (Server, LlmServer, StepLlmServer) on ``cluster``, as its servers."""
    s = cluster.spec
    servers = [
        kind(
            kernel,
            cluster,
            i,
            10 + i,  # a global index unlike the local one: records name the global one
            s.slots,
            s.queue_limit,
            ServiceTimes(s.service, stream(1, "test-service", i)),
            Draws(stream(1, "test-faults", i)),
        )
        for i in range(count)
    ]
    cluster.servers = servers
    return servers


def at(kernel: Kernel, time_s: float, action: Callable[..., Any], *args: Any) -> None:
    """Do ``action(*args)`` at simulated time ``time_s``."""
    kernel.call_at(time_s, lambda _: action(*args), None)
