"""The fault effect table: one file per kind, registered by name in ``KINDS`` (see base.py)."""

from sim.faults import (  # noqa: F401  (imported for registration)
    crash,
    drain,
    error_rate,
    healthcheck_flap,
    partition,
    router_saturation,
    slowdown,
    unavailable,
)
from sim.faults.base import KINDS, FaultKind, MockRouterState, MockServerState, SimEffect, register, scenario_kinds

__all__ = ["KINDS", "FaultKind", "MockRouterState", "MockServerState", "SimEffect", "register", "scenario_kinds"]
