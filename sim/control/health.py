"""Active health checks: consecutive probe results flip the router's view of a server.

One ``HealthPolicy`` per router configuration; the state it updates lives on whatever the caller
keeps per server (the simulator's ``Server``, the mock router's ``BackendView``), so counting a probe
makes no object. HAProxy calls the two thresholds ``rise`` and ``fall``, the period ``inter``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # scenario models for types only: the control plane stands below the scenario
    from sim.scenario import HealthCheck


__all__ = ["HealthPolicy", "ProbeState", "probe_wait_s"]


class ProbeState(Protocol):
    """The router's view of one server from its probes."""

    probed_healthy: bool
    probe_failures: int
    probe_successes: int


class HealthPolicy:
    """Counts probe results: ``unhealthy_threshold`` failures in a row mark a server down,
    ``healthy_threshold`` successes in a row mark it up again. Every server starts healthy."""

    __slots__ = ("healthy_threshold", "interval_s", "timeout_s", "unhealthy_threshold")

    def __init__(self, spec: HealthCheck) -> None:
        self.interval_s = spec.interval
        self.timeout_s = spec.timeout
        self.healthy_threshold = spec.healthy_threshold
        self.unhealthy_threshold = spec.unhealthy_threshold

    def record(self, state: ProbeState, ok: bool) -> bool:
        """Count one probe result on ``state``; True when the server's health flips."""
        if ok:
            state.probe_failures, state.probe_successes = 0, state.probe_successes + 1
            if not state.probed_healthy and state.probe_successes >= self.healthy_threshold:
                state.probed_healthy = True
                return True
        else:
            state.probe_successes, state.probe_failures = 0, state.probe_failures + 1
            if state.probed_healthy and state.probe_failures >= self.unhealthy_threshold:
                state.probed_healthy = False
                return True
        return False

    def reset(self, state: ProbeState) -> None:
        """As at a run's start: healthy, no probe counted."""
        state.probed_healthy, state.probe_failures, state.probe_successes = True, 0, 0

    def answers_in_time(self, wait_s: float) -> bool:
        """Whether a probe that waits ``wait_s`` behind a busy server's queue answers before its timeout."""
        return wait_s <= self.timeout_s


def probe_wait_s(queued: int, slots: int, mean_service_s: float, slow_factor: float, slowest: float) -> float:
    """How long a probe waits on a server with every slot busy: its place behind the ``queued``
    requests, served ``slots`` at a time at the mean service time, slowed by the faults in force
    (``slow_factor``) and by full concurrency (``slowest``: the service-time factor at ``slots``)."""
    return (queued + 1) / slots * mean_service_s * slow_factor * slowest
