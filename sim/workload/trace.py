"""Arrival traces: open-loop Poisson arrivals, exact non-homogeneous Poisson for rate profiles.

A closed loop (``workload.users``) has no arrival times up front: its trace is a pool of requests
(classes, sessions, tokens, service draws) that the clients hand out in order as users send.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sim.inputs.datafiles import read_trace
from sim.rng import Stream, stream
from sim.scenario import RequestClass, Scenario, Workload
from sim.workload.tokens import draw_tokens

__all__ = ["Trace", "closed_pool_size", "generate_trace", "rate_at"]


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
    prompt_tokens: np.ndarray | None = None  # integer per request (None: 1 each)
    output_tokens: np.ndarray | None = None  # integer per request (None: 1 each)
    class_stream: tuple[bool, ...] | None = None  # whether each class streams (None: none does)
    service_u: np.ndarray | None = None  # workload.service_draws per_request: a uniform draw per request
    users: int | None = None  # closed loop: the first ``users`` requests start at 0, the rest is a pool
    think_time_s: float = 0.0  # closed loop: pause between a user's answer and its next request
    requests_per_user: int | None = None  # closed loop: a user stops after this many

    def __post_init__(self) -> None:
        fields = (self.class_names, self.class_models, self.class_work, self.class_regions, self.class_priorities)
        if len({len(f) for f in fields}) != 1:
            raise ValueError("Trace: every class_* tuple needs one entry per class")
        ones = np.ones(self.arrival_s.size, dtype=np.int32)
        if self.prompt_tokens is None:
            object.__setattr__(self, "prompt_tokens", ones)
        if self.output_tokens is None:
            object.__setattr__(self, "output_tokens", ones)
        if self.class_stream is None:
            object.__setattr__(self, "class_stream", (False,) * len(self.class_names))

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
        rate = np.full(t_s.shape, workload.base_rps)
    else:
        at = np.array([p.at for p in workload.profile])
        rate = np.interp(t_s, at, np.array([p.rate_rps(workload.base_rps) for p in workload.profile]))
    for surge in workload.surges:
        rate = np.where((t_s >= surge.at) & (t_s < surge.end_s), rate * surge.factor, rate)
    return rate


def _peak_rate(workload: Workload) -> float:
    """An upper bound of rate(t): the profile's peak times every surge factor above 1."""
    peak = (
        workload.base_rps if workload.profile is None else max(p.rate_rps(workload.base_rps) for p in workload.profile)
    )
    for surge in workload.surges:
        peak *= max(surge.factor, 1.0)
    return peak


def generate_trace(scenario: Scenario, seed: int | None = None) -> Trace:
    """Draw the request trace of ``scenario`` for ``seed`` (default: the scenario's own seed).

    Arrivals are a Poisson process at the peak rate thinned by rate(t)/peak, which is exactly a
    non-homogeneous Poisson process with intensity rate(t) (Lewis and Shedler 1979); with
    ``workload.trace`` the recorded requests are replayed instead. Token counts are drawn per
    class from their own streams, then migrations move requests between models.
    """
    seed = scenario.seed if seed is None else seed
    workload = scenario.workload
    if workload.trace is not None:
        return _with_service_draws(_migrate(_replayed(scenario), workload, seed), workload, seed)
    times = _arrival_times(scenario, seed) if workload.users is None else np.zeros(closed_pool_size(workload.users))
    session = _sessions(workload, seed, times.size)
    classes = workload.classes or [RequestClass(name="default")]
    weights = np.array([c.weight for c in classes], dtype=np.float64)
    klass = np.zeros(times.size, dtype=np.int32)
    if len(classes) > 1:
        klass = (
            stream(seed, Stream.CLASSES)
            .choice(len(classes), size=times.size, p=weights / weights.sum())
            .astype(np.int32)
        )
    prompt = np.empty(times.size, dtype=np.int32)  # token counts fit; a million requests take 8 MB less each
    output = np.empty(times.size, dtype=np.int32)
    for index, c in enumerate(classes):
        mine = klass == index
        n = int(mine.sum())
        prompt[mine] = draw_tokens(
            c.prompt_tokens or workload.prompt_tokens, stream(seed, Stream.PROMPT_TOKENS, index), n
        )
        output[mine] = draw_tokens(
            c.output_tokens or workload.output_tokens, stream(seed, Stream.OUTPUT_TOKENS, index), n
        )
    trace = _with_classes(times, klass, session, classes, prompt, output, workload.sessions is not None)
    if workload.users is not None:
        trace = replace(
            trace, users=workload.users, think_time_s=workload.think_time, requests_per_user=workload.requests_per_user
        )
    return _with_service_draws(_migrate(trace, workload, seed), workload, seed)


def closed_pool_size(users: int) -> int:
    """Requests drawn up front for a closed loop: its users take them in turn, cycling when they run out."""
    return max(16 * users, 8192)


def _with_service_draws(trace: Trace, workload: Workload, seed: int) -> Trace:
    """``trace`` with one uniform draw per request when service times are drawn per request."""
    if workload.service_draws != "per_request":
        return trace
    return replace(trace, service_u=stream(seed, Stream.SERVICE_U).random(len(trace)))


def _arrival_times(scenario: Scenario, seed: int) -> np.ndarray:
    workload = scenario.workload
    arrivals_rng = stream(seed, Stream.ARRIVALS)
    peak_rps = _peak_rate(workload)
    n = int(arrivals_rng.poisson(peak_rps * scenario.duration))
    times = np.sort(arrivals_rng.uniform(0.0, scenario.duration, size=n))
    if workload.profile is not None or workload.surges:
        keep = arrivals_rng.random(n) * peak_rps < rate_at(workload, times)
        times = times[keep]
    return times


def _with_classes(
    times: np.ndarray,
    klass: np.ndarray,
    session: np.ndarray,
    classes: list[RequestClass],
    prompt: np.ndarray,
    output: np.ndarray,
    has_sessions: bool,
) -> Trace:
    return Trace(
        arrival_s=times,
        klass=klass,
        session=session,
        class_names=tuple(c.name for c in classes),
        class_models=tuple(c.model for c in classes),
        class_work=tuple(c.work for c in classes),
        class_regions=tuple(c.region for c in classes),
        class_priorities=tuple(c.priority for c in classes),
        has_sessions=has_sessions,
        prompt_tokens=prompt,
        output_tokens=output,
        class_stream=tuple(c.stream for c in classes),
    )


def _replayed(scenario: Scenario) -> Trace:
    """The recorded trace, inside ``[0, duration)`` after time scaling; a row's class names a class
    or a model (a model without a class of its own gets a class named after it)."""
    spec = scenario.workload.trace
    assert spec is not None
    rows = read_trace(Path(spec.file))
    times = rows.time_s / spec.time_scale
    keep = times < scenario.duration
    classes = list(scenario.workload.classes)
    index = {c.name: i for i, c in enumerate(classes)}
    for c in classes:
        if c.model is not None:
            index.setdefault(c.model, index[c.name])
    for key in rows.key:
        if key not in index:
            index[key] = len(classes)
            classes.append(RequestClass(name=key, model=key))
    if not classes:
        classes = [RequestClass(name="default")]
    klass = np.array([index.get(k, 0) for k in rows.key], dtype=np.int32)[keep]
    session = rows.session[keep] if rows.session is not None else np.arange(int(keep.sum()), dtype=np.int64)
    return _with_classes(
        times[keep],
        klass,
        session,
        classes,
        rows.prompt_tokens[keep],
        rows.output_tokens[keep],
        rows.session is not None,
    )


def _migrate(trace: Trace, workload: Workload, seed: int) -> Trace:
    """Move requests of a retired model to its successor: each one with the ramp's share at its arrival.

    A moved request keeps its class's tokens and priority but gets a twin class asking for the new model.
    """
    if not workload.migrations:
        return trace
    klass = trace.klass.copy()
    twins: dict[tuple[int, str], int] = {}
    names, models = list(trace.class_names), list(trace.class_models)
    work, regions = list(trace.class_work), list(trace.class_regions)
    priorities, streams = list(trace.class_priorities), list(trace.class_stream or ())
    draws = stream(seed, Stream.MIGRATION).random(len(trace))
    for migration in workload.migrations:
        share = np.clip((trace.arrival_s - migration.start) / (migration.end - migration.start), 0.0, 1.0)
        from_classes = [i for i, m in enumerate(trace.class_models) if m == migration.from_model]
        for c in from_classes:
            moved = (klass == c) & (draws < migration.share * share)
            if not moved.any():
                continue
            twin = twins.setdefault((c, migration.to_model), len(names))
            if twin == len(names):
                names.append(f"{trace.class_names[c]}@{migration.to_model}")
                models.append(migration.to_model)
                work.append(trace.class_work[c])
                regions.append(trace.class_regions[c])
                priorities.append(trace.class_priorities[c])
                streams.append(streams[c])
            klass[moved] = twin
    return replace(
        trace,
        klass=klass,
        class_names=tuple(names),
        class_models=tuple(models),
        class_work=tuple(work),
        class_regions=tuple(regions),
        class_priorities=tuple(priorities),
        class_stream=tuple(streams),
    )


def _sessions(workload: Workload, seed: int, n: int) -> np.ndarray:
    """Session id per request: Zipf-like popularity over ``count`` sessions, or one per request."""
    if workload.sessions is None:
        return np.arange(n, dtype=np.int64)
    ranks = np.arange(1, workload.sessions.count + 1, dtype=np.float64)
    popularity = ranks**-workload.sessions.skew
    return stream(seed, Stream.SESSIONS).choice(ranks.size, size=n, p=popularity / popularity.sum()).astype(np.int64)
