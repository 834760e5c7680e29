"""Server-side load shedding: CoDel on the waiting room, and lowest-priority-first eviction."""

from __future__ import annotations

from collections import deque

from sim.engine.kernel import Attempt
from sim.scenario import Codel as CodelSpec

__all__ = ["Codel", "lowest_priority_victim"]


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


def lowest_priority_victim(queue: deque[Attempt], priority: int) -> Attempt | None:
    """The newest live queued attempt of the lowest priority, if it is below ``priority``."""
    victim: Attempt | None = None
    for attempt in queue:
        if attempt.cancelled:
            continue
        if attempt.priority < priority and (victim is None or attempt.priority <= victim.priority):
            victim = attempt
    return victim
