"""The routing layer's own slots: ``instances x concurrency`` (None: unbounded), cut by router_saturation."""

from __future__ import annotations

import math

__all__ = ["RouterSlots"]


class RouterSlots:
    """Slots held from a request's arrival to its answer; a request finding them all taken gets 503.

    router_saturation faults keep a share of the slots each: the capacity is the base times the
    product of the factors in force, rounded down, recomputed from the faults still in force when one
    ends (never divided back: nothing of a fault outlives it). Slots held stay held.
    """

    def __init__(self, base_capacity: int | None) -> None:
        self.base_capacity = base_capacity
        self.capacity = base_capacity  # slots now (None: unbounded)
        self.capacity_scale = 1.0
        self.saturations: list[float] = []  # factors of the router_saturation faults in force
        self.in_flight = 0  # slots held

    def saturate(self, factor: float, active: bool) -> None:
        """A router_saturation fault keeping ``factor`` of capacity starts (``active``) or ends."""
        if active:
            self.saturations.append(factor)
        else:
            self.saturations.remove(factor)
        self.capacity_scale = math.prod(self.saturations)
        if self.base_capacity is not None:
            self.capacity = max(0, math.floor(self.base_capacity * self.capacity_scale + 1e-9))

    def full(self) -> bool:
        """Every slot is taken."""
        return self.capacity is not None and self.in_flight >= self.capacity
