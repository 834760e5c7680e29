"""Arrival traces: open-loop Poisson arrivals, exact non-homogeneous Poisson for rate profiles."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.rng import stream
from sim.scenario import Scenario, Workload

__all__ = ["Trace", "generate_trace", "rate_at"]


@dataclass(frozen=True)
class Trace:
    """Every user request of one run, drawn before the run: arrival times and classes."""

    arrival_s: np.ndarray  # float64, sorted
    klass: np.ndarray  # int32, index into class_names
    session: np.ndarray  # int64 affinity key per request (its own index when there are no sessions)
    class_names: tuple[str, ...] = ("default",)
    class_models: tuple[str | None, ...] = (None,)
    class_work: tuple[float, ...] = (1.0,)
    class_regions: tuple[str | None, ...] = (None,)
    class_priorities: tuple[int, ...] = (0,)
    has_sessions: bool = False  # False: ``session`` is just the request index

    def __post_init__(self) -> None:
        fields = (self.class_names, self.class_models, self.class_work, self.class_regions, self.class_priorities)
        if len({len(f) for f in fields}) != 1:
            raise ValueError("Trace: every class_* tuple needs one entry per class")

    def __len__(self) -> int:
        return int(self.arrival_s.size)

    @classmethod
    def from_arrivals(cls, arrival_s: np.ndarray | list[float]) -> Trace:
        """A single-class trace with the given arrival times (tests, trace replay)."""
        arrivals = np.sort(np.asarray(arrival_s, dtype=np.float64))
        return cls(arrivals, np.zeros(arrivals.size, dtype=np.int32), np.arange(arrivals.size))


def rate_at(workload: Workload, t_s: np.ndarray) -> np.ndarray:
    """Arrival rate (per second) at times ``t_s``: linear between profile points, flat outside,
    multiplied by every surge active at that time."""
    t_s = np.asarray(t_s, dtype=np.float64)
    if workload.profile is None:
        rate = np.full(t_s.shape, workload.rate)
    else:
        at = np.array([p.at for p in workload.profile])
        rate = np.interp(t_s, at, np.array([p.rate_rps(workload.rate) for p in workload.profile]))
    for surge in workload.surges:
        rate = np.where((t_s >= surge.at) & (t_s < surge.end_s), rate * surge.factor, rate)
    return rate


def _peak_rate(workload: Workload) -> float:
    """An upper bound of rate(t): the profile's peak times every surge factor above 1."""
    peak = workload.rate if workload.profile is None else max(p.rate_rps(workload.rate) for p in workload.profile)
    for surge in workload.surges:
        peak *= max(surge.factor, 1.0)
    return peak


def generate_trace(scenario: Scenario, seed: int | None = None) -> Trace:
    """Draw the arrival trace of ``scenario`` for ``seed`` (default: the scenario's own seed).

    Arrivals are a Poisson process at the peak rate thinned by rate(t)/peak, which is exactly a
    non-homogeneous Poisson process with intensity rate(t) (Lewis and Shedler 1979).
    """
    seed = scenario.seed if seed is None else seed
    workload = scenario.workload
    arrivals_rng = stream(seed, "arrivals")
    peak_rps = _peak_rate(workload)
    n = int(arrivals_rng.poisson(peak_rps * scenario.duration))
    times = np.sort(arrivals_rng.uniform(0.0, scenario.duration, size=n))
    if workload.profile is not None or workload.surges:
        keep = arrivals_rng.random(n) * peak_rps < rate_at(workload, times)
        times = times[keep]
    session = _sessions(workload, seed, times.size)
    classes = workload.classes
    if not classes:
        return Trace(times, np.zeros(times.size, dtype=np.int32), session, has_sessions=workload.sessions is not None)
    weights = np.array([c.weight for c in classes], dtype=np.float64)
    klass = stream(seed, "classes").choice(len(classes), size=times.size, p=weights / weights.sum())
    return Trace(
        arrival_s=times,
        klass=klass.astype(np.int32),
        session=session,
        class_names=tuple(c.name for c in classes),
        class_models=tuple(c.model for c in classes),
        class_work=tuple(c.work for c in classes),
        class_regions=tuple(c.region for c in classes),
        class_priorities=tuple(c.priority for c in classes),
        has_sessions=workload.sessions is not None,
    )


def _sessions(workload: Workload, seed: int, n: int) -> np.ndarray:
    """Session id per request: Zipf-like popularity over ``count`` sessions, or one per request."""
    if workload.sessions is None:
        return np.arange(n, dtype=np.int64)
    ranks = np.arange(1, workload.sessions.count + 1, dtype=np.float64)
    popularity = ranks**-workload.sessions.skew
    return stream(seed, "sessions").choice(ranks.size, size=n, p=popularity / popularity.sum()).astype(np.int64)
