"""The fault effect table's entry: what one fault kind checks, and what it does and undoes in the
simulator and in the mock service. One file per kind registers one ``FaultKind``; nothing else in
the tree lists the kinds (the scenario's field, the mock's injections and both engines read ``KINDS``).

Kinds touch the state of the objects they hit through the small protocols below, so this package
imports neither the engine nor the mock at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

if TYPE_CHECKING:
    from sim.engine.attempt import Attempt
    from sim.engine.kernel import Gauge, Kernel
    from sim.engine.router import Router
    from sim.engine.server import Server
    from sim.scenario import Fault, Scenario

__all__ = [
    "KINDS",
    "FaultKind",
    "MockFault",
    "MockRouterState",
    "MockServerState",
    "SimEffect",
    "register",
    "scenario_kinds",
]


class MockServerState(Protocol):
    """A mock server's fault state: one entry per fault in force, the state recomputed from them
    (the slowdown, error and flap lists compose as ``sim.control.faults`` says, as in the simulator)."""

    slowdowns: list[float]
    slow_factor: float
    error_fractions: list[tuple[float, float]]
    flap_fractions: list[float]
    partitions: int
    unavailables: int
    time_scale: float  # simulated seconds per real second

    def crash(self, lost: bool) -> None: ...
    def recover(self) -> None: ...
    def drain(self) -> None: ...


class MockFault(Protocol):
    """One fault injected into the mock service (``loadtest.mock.injection.Injection``), as its effect reads it."""

    @property
    def value(self) -> float:
        """The slowdown factor, or the share of requests (error_rate) or probes (healthcheck_flap) hit."""

    @property
    def in_flight(self) -> str:
        """crash: what happens to the requests held, ``fail`` (500 at once) or ``lost``."""

    @property
    def error_latency_s(self) -> float:
        """error_rate: real seconds before a failed request's 500."""


class MockRouterState(Protocol):
    """The mock router's capacity (``sim.control.capacity.RouterSlots``): router_saturation factors in force."""

    def saturate(self, factor: float, active: bool) -> None: ...


@dataclass
class SimEffect:
    """One fault in the simulator, with what its effect reaches."""

    kernel: Kernel
    fault: Fault
    servers: list[Server]
    router: Router
    healthy: Gauge
    finish: Callable[[Attempt, int], None]


class FaultKind:
    """One fault kind. Subclasses set ``name`` and override what they do; the defaults refuse."""

    name: ClassVar[str]
    in_scenarios: ClassVar[bool] = True  # False: a runtime injection of the mock service only
    targets_router: ClassVar[bool] = False  # the router, not servers
    whole_cluster: ClassVar[bool] = False  # targets a cluster, never CLUSTER/INDEX
    every_server: ClassVar[bool] = False  # acts on every server of its target (per request), never a fraction
    value_field: ClassVar[str] = "fraction"  # the scenario field the mock's injection value carries
    permanent: ClassVar[bool] = False  # retires servers one by one over its window, never lifted (drain)
    keeps_draw_order: ClassVar[bool] = False  # its servers in the order drawn (a drain's schedule), else sorted

    # --- validation -------------------------------------------------------------------------------
    def fault_problem(self, fault: Fault) -> str | None:
        """A problem of the fault's own fields (the scenario model raises it), or None."""
        return None

    def scenario_problem(self, scenario: Scenario) -> str | None:
        """A problem with the rest of the scenario (e.g. a field this kind needs), or None."""
        return None

    def value_problem(self, value: float) -> str | None:
        """A problem with a mock injection's ``value`` (message starts with the field), or None."""
        return None

    def balancer_problem(self, scenario: Scenario, implementation: str) -> str | None:
        """Why this kind cannot be played behind a real balancer (haproxy, nginx), or None."""
        return None

    def mock_problem(self, scenario: Scenario) -> str | None:
        """Why the mock service (orchsim's router and backends) does not play it as simulated, or None."""
        return None

    # --- simulator --------------------------------------------------------------------------------
    def sim_process(self, effect: SimEffect, begin: Any) -> Generator[Any, Any, None]:
        """The fault's SimPy process: by default its effect over its window ``[at, end)``."""
        yield begin
        self.sim_apply(effect)
        yield effect.kernel.env.timeout(effect.fault.end_s - effect.fault.at)
        self.sim_lift(effect)

    def sim_apply(self, effect: SimEffect) -> None:
        raise NotImplementedError(f"{self.name} has no simulator effect")

    def sim_lift(self, effect: SimEffect) -> None:
        raise NotImplementedError(f"{self.name} has no simulator effect")

    # --- mock service -----------------------------------------------------------------------------
    def mock_apply(self, server: MockServerState, fault: MockFault) -> None:
        raise NotImplementedError(f"{self.name} does not act on a mock server")

    def mock_lift(self, server: MockServerState, fault: MockFault) -> None:
        raise NotImplementedError(f"{self.name} does not act on a mock server")

    def mock_router_apply(self, router: MockRouterState, value: float) -> None:
        raise NotImplementedError(f"{self.name} does not act on the mock router")

    def mock_router_lift(self, router: MockRouterState, value: float) -> None:
        raise NotImplementedError(f"{self.name} does not act on the mock router")


KINDS: dict[str, FaultKind] = {}
K = TypeVar("K", bound=type[FaultKind])


def register(cls: K) -> K:
    """Class decorator: add a kind to the table under its ``name``."""
    if cls.name in KINDS:
        raise ValueError(f"fault kind {cls.name!r} registered twice")
    KINDS[cls.name] = cls()
    return cls


def scenario_kinds() -> list[str]:
    """Names a scenario's ``faults.N.kind`` takes, in registration order."""
    return [name for name, kind in KINDS.items() if kind.in_scenarios]


def refresh_clusters(servers: list[Server]) -> None:
    """Recompute the routable servers of each cluster ``servers`` belong to."""
    for cluster in {id(s.cluster): s.cluster for s in servers}.values():
        cluster.refresh_routable()
