"""Load shedding: CoDel on a server's waiting room, lowest-priority-first eviction, and the router's
adaptive concurrency limit per cluster."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:  # scenario models for types only: the control plane stands below the scenario
    from sim.scenario import AdaptiveConcurrency as AdaptiveConcurrencySpec
    from sim.scenario import Codel as CodelSpec


__all__ = ["Codel", "GradientLimit", "Queued", "lowest_priority_victim"]


class Queued(Protocol):
    """A request waiting in a server's queue, as eviction sees it."""

    priority: int  # higher is more important

    @property
    def cancelled(self) -> bool:
        """The client gave up: it no longer counts."""


Q = TypeVar("Q", bound=Queued)


class Codel:
    """CoDel (Nichols and Jacobson 2012) on a server's FCFS queue, in its simple form.

    A request that waited less than ``target`` resets the state. Once waits have stayed above
    ``target`` for a whole ``interval``, every request dequeued while the wait is still above
    target is dropped (answered 503) until one comes out under it.
    """

    __slots__ = ("_first_above_s", "_spec", "dropping")

    def __init__(self, spec: CodelSpec) -> None:
        self._spec = spec
        self._first_above_s: float | None = None
        self.dropping = False

    def drops(self, waited_s: float, now_s: float) -> bool:
        """True if the request just dequeued after waiting ``waited_s`` should be dropped."""
        if waited_s < self._spec.target:
            self._first_above_s = None
            self.dropping = False
            return False
        if self._first_above_s is None:
            self._first_above_s = now_s + self._spec.interval
            return False
        if self.dropping or now_s >= self._first_above_s:
            self.dropping = True
            return True
        return False


def lowest_priority_victim(queue: Iterable[Q], priority: int) -> Q | None:
    """The newest live queued attempt of the lowest priority, if it is below ``priority``."""
    victim: Q | None = None
    for attempt in queue:  # the priority first: it rules out most of a full room, and costs less than ``cancelled``
        lower = attempt.priority < priority and (victim is None or attempt.priority <= victim.priority)
        if lower and not attempt.cancelled:
            victim = attempt
    return victim


class GradientLimit:
    """Adaptive concurrency limit of one cluster, seen from the router (Netflix Gradient2 style).

    Each interval: short = mean latency of the successes since the last update, base = the
    smallest short of the last ``window`` intervals (an unloaded latency that slowly forgets);
    gradient = clamp(tolerance x base / short, 0.5, 1); the limit moves a fifth of the way
    towards limit x gradient + sqrt(limit). Attempts over it get 503 at once.
    """

    __slots__ = ("_history", "_latency_sum_s", "_samples", "_spec", "interval_s", "limit", "outstanding")

    def __init__(self, spec: AdaptiveConcurrencySpec) -> None:
        self._spec = spec
        self.interval_s = spec.interval
        self.limit = float(spec.initial_limit)
        self.outstanding = 0
        self._history: deque[float] = deque(maxlen=spec.window)
        self._latency_sum_s = 0.0
        self._samples = 0

    def admits(self) -> bool:
        """True (and counted) if one more attempt fits under the limit."""
        if self.outstanding >= self.limit:
            return False
        self.outstanding += 1
        return True

    def done(self, latency_s: float, success: bool) -> None:
        """An admitted attempt ended; successes feed the latency sample."""
        self.outstanding -= 1
        if success:
            self._latency_sum_s += latency_s
            self._samples += 1

    def update(self) -> None:
        """Recompute the limit from the latency sample of the last interval."""
        if not self._samples:
            return
        short_s = self._latency_sum_s / self._samples
        self._latency_sum_s, self._samples = 0.0, 0
        self._history.append(short_s)
        gradient = min(1.0, max(0.5, self._spec.tolerance * min(self._history) / short_s))
        target = self.limit * gradient + math.sqrt(self.limit)
        self.limit += 0.2 * (target - self.limit)
        self.limit = min(float(self._spec.max_limit), max(float(self._spec.min_limit), self.limit))
