"""Named, seeded random streams: one independent numpy Generator per source of randomness."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from enum import StrEnum, unique
from typing import Protocol

import numpy as np

__all__ = ["Draws", "Fixed", "Stream", "Uniform", "retry_draws", "retry_u", "stream"]

_MASK = (1 << 64) - 1


@unique
class Stream(StrEnum):
    """Every named stream the simulator, the mock and the load generator draw from, declared once.

    The value is the stream's key (crc32 of it seeds the stream): changing one changes every draw of
    that stream, and the mock and the simulator share the ones they both use (common random numbers).
    """

    ARRIVALS = "arrivals"  # arrival times (sim.workload.trace)
    CLASSES = "classes"  # request class of each arrival
    PROMPT_TOKENS = "prompt-tokens"  # per class index
    OUTPUT_TOKENS = "output-tokens"  # per class index
    SERVICE_U = "service-u"  # per-request service draws (shared with the load generator)
    MIGRATION = "migration"  # which requests of a retired model move to its successor
    SESSIONS = "sessions"  # session id of each request (Zipf-like popularity)
    CLIENTS = "clients"  # retry backoff jitter of the clients
    CLUSTER_CHOICE = "cluster-choice"  # the router's choice of cluster
    ROUTING = "routing"  # per cluster: the strategy's draws (simulator and mock router)
    SERVICE = "service"  # per cluster and server: service times (simulator and mock)
    FAULTS = "faults"  # per cluster and server: error_rate draws (simulator and mock)
    HEALTH = "health"  # per cluster: health probe draws in the simulator
    HEALTH_FLAP = "health-flap"  # per cluster and server: the mock's healthcheck_flap draws
    FAULT_TARGETS = "fault-targets"  # per fault: servers hit (simulator and mock)
    OUTAGE_REPORTS = "outage_reports"  # monitoring's user outage reports
    LOCUST_CLIENTS = "locust-clients"  # per load-generator shard


class Uniform(Protocol):
    """Anything that gives uniform draws in [0, 1)."""

    def uniform(self) -> float: ...


class Fixed:
    """One given draw: ``uniform()`` returns it (a draw that belongs to a request, not a stream)."""

    __slots__ = ("value",)

    def __init__(self, value: float) -> None:
        self.value = value

    def uniform(self) -> float:
        return self.value


def _mix(x: int) -> int:
    """splitmix64's finalizer (Steele, Lea and Flood 2014): a bijection that scatters every bit."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def retry_u(service_u: float, number: int) -> float:
    """The backoff jitter draw of attempt ``number`` of a request whose own draw is ``service_u``
    (per-request draws): a function of the two alone, so the simulator and the load generator
    jitter each retry alike, in whatever order retries happen."""
    x = _mix((int(service_u * 2.0**53) + 0x9E3779B97F4A7C15 * number) & _MASK)
    return (_mix(x) >> 11) * 2.0**-53


def retry_draws(shared: Uniform, service_u: float | None, number: int) -> Uniform:
    """Where the backoff jitter of a retry after attempt ``number`` comes from: the clients' ``shared``
    stream, or with per-request draws (``service_u`` given) the request's own ``retry_u`` draw. The
    simulator and the load generator both ask here, so they jitter each retry alike."""
    return shared if service_u is None else Fixed(retry_u(service_u, number))


def stream(seed: int, name: str, *keys: int) -> np.random.Generator:
    """Generator for the stream ``name`` (plus integer keys) derived from the root ``seed``.

    The name is keyed by crc32, never ``hash()``, so streams are stable across processes. Code of
    sim/ and loadtest/ passes a ``Stream`` member (a test checks); tests may use their own names.
    """
    spawn_key = (zlib.crc32(name.encode()), *keys)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=spawn_key)))


class Draws:
    """Uniform draws from a Generator, fetched in blocks: a hot-path scalar draw costs ~50 ns.

    The sequence of values is exactly ``rng.random()`` in order, whatever the block size.
    """

    __slots__ = ("_block", "_next", "_rng")

    def __init__(self, rng: np.random.Generator, block: int = 4096) -> None:
        if block <= 0:
            raise ValueError('"block" must be > 0.')
        self._rng = rng
        self._block = block
        self._next: Callable[[], float] = iter(()).__next__  # the current block's next value; the first call fills

    def _refill(self) -> float:
        """The first value of a new block (the current one is used up)."""
        self._next = iter(self._rng.random(self._block).tolist()).__next__
        return self._next()

    def uniform(self) -> float:
        """A float in [0, 1)."""
        try:
            return self._next()
        except StopIteration:
            return self._refill()

    def index(self, n: int) -> int:
        """An integer in [0, n), uniform."""
        try:
            return int(self._next() * n)
        except StopIteration:
            return int(self._refill() * n)
