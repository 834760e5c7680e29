"""The strategy plug point: a small Protocol plus a registry that refuses duplicates."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol, TypeVar, cast

from sim.rng import Draws

__all__ = ["STRATEGIES", "ServerView", "Strategy", "make_strategy", "register"]


class ServerView(Protocol):
    """What a strategy may read of a server (read-only by convention)."""

    index: int
    slots: int
    busy: int
    queued: int
    in_flight: int


class Strategy(Protocol):
    """Picks one of ``servers`` (all routable) for the next attempt and returns its position.

    A ``central`` strategy is asked only while the router's queue is empty and may answer -1
    (no slot free): the attempt then waits in the router's FCFS queue.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    central: ClassVar[bool]

    def choose(self, servers: Sequence[ServerView], draws: Draws) -> int: ...


S = TypeVar("S", bound=type)
STRATEGIES: dict[str, type[Strategy]] = {}


def register(cls: S) -> S:
    """Class decorator adding a strategy to the registry under ``cls.name``."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"strategy {cls.__qualname__} needs a non-empty 'name'")
    if name in STRATEGIES:
        raise ValueError(f"strategy {name!r} is registered twice ({STRATEGIES[name].__qualname__}, {cls.__qualname__})")
    STRATEGIES[name] = cast(type[Strategy], cls)
    return cls


def make_strategy(name: str, **params: Any) -> Strategy:
    """A fresh instance of the strategy ``name`` (one per cluster: some keep state)."""
    factory: Callable[..., Strategy] = STRATEGIES[name]
    return factory(**params)
