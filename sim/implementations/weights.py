"""Static weights as a balancer's configuration writes them: whole numbers in proportion."""

from __future__ import annotations

__all__ = ["integer_weights"]


def integer_weights(weights: list[float] | None, count: int, top: int) -> list[int]:
    """Static weights as whole numbers in 1..top, in the same proportions as far as rounding allows."""
    if weights is None:
        return [1] * count
    largest = max(weights)
    return [max(1, round(top * w / largest)) for w in weights]
