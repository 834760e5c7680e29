"""The strategy plug point: small Protocols, a base class with typed parameters, a registry."""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from sim.inputs.messages import reword
from sim.rng import Draws

__all__ = [
    "STRATEGIES",
    "NoParams",
    "RequestView",
    "ServerView",
    "Strategy",
    "StrategyBase",
    "StrategyParams",
    "make_strategy",
    "position_of",
    "register",
    "strategy_problems",
]


class ServerView(Protocol):
    """What a strategy may read of a server: live state, or the last load report when stale."""

    index: int  # position in its cluster, stable across health changes
    slots: int
    busy: int
    queued: int
    in_flight: int
    work_in_flight: float
    tokens_in_flight: int  # prompt + answer tokens held

    @property
    def prefix_sessions(self) -> Container[int]:
        """Sessions whose prompt prefix it has cached (LLM service); empty elsewhere."""


class RequestView(Protocol):
    """What a strategy may read of the attempt being routed."""

    klass: int
    session: int
    work: float
    tokens: int
    sent_s: float


class Strategy(Protocol):
    """Picks one of ``servers`` (the routable ones) for ``request`` and returns its position.

    A ``central`` strategy is asked only while the router's queue is empty and may answer -1
    (no slot free): the attempt then waits in the router's FCFS queue. Any other strategy answering
    -1 has no server it may send to (a real balancer's own failure marks): the attempt gets 503.
    A strategy may also have ``on_complete(server, request, now_s)``, called when a server finishes
    an attempt, and ``on_answer(attempt, code)``, told how every attempt routed to it ended.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    central: ClassVar[bool]

    def choose(self, servers: Sequence[ServerView], request: RequestView, draws: Draws) -> int: ...


class StrategyParams(BaseModel):
    """Base of each strategy's parameters: validated, frozen, unknown names refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class NoParams(StrategyParams):
    """A strategy without parameters."""


class StrategyBase:
    """Common constructor: validated parameters, the cluster's servers, the routing stream."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    central: ClassVar[bool] = False
    Params: ClassVar[type[StrategyParams]] = NoParams

    def __init__(self, params: Any, servers: Sequence[ServerView], draws: Draws) -> None:
        self.params = params
        self.draws = draws

    @classmethod
    def check(cls, params: Any, n_servers: int) -> None:
        """Raise ValueError("field: message") when ``params`` do not fit a cluster of ``n_servers``."""


S = TypeVar("S", bound=type[StrategyBase])
STRATEGIES: dict[str, type[StrategyBase]] = {}


def register(cls: S) -> S:
    """Class decorator adding a strategy to the registry under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"strategy {cls.__qualname__} needs a non-empty 'name'")
    if cls.name in STRATEGIES:
        raise ValueError(
            f"strategy {cls.name!r} is registered twice ({STRATEGIES[cls.name].__qualname__}, {cls.__qualname__})"
        )
    STRATEGIES[cls.name] = cls
    return cls


def strategy_problems(name: str, params: dict[str, Any], n_servers: int) -> list[str]:
    """Problems of strategy ``name`` with ``params`` on ``n_servers``, as ``field: message`` texts."""
    cls = STRATEGIES[name]
    try:
        parsed = cls.Params.model_validate(params)
        cls.check(parsed, n_servers)
    except ValidationError as exc:
        return [_param_problem(name, err) for err in exc.errors(include_url=False)]
    except ValueError as exc:
        return [str(exc)]
    return []


def _param_problem(name: str, err: Any) -> str:
    field = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"{field}: {name} takes no parameter {field!r}"
    return f"{field}: {reword(str(err['msg']))} (got {err.get('input')!r})"


def make_strategy(name: str, params: dict[str, Any], servers: Sequence[ServerView], draws: Draws) -> Strategy:
    """A fresh instance of strategy ``name`` for one cluster (parameters already validated)."""
    cls = STRATEGIES[name]
    instance: Strategy = cls(cls.Params.model_validate(params), servers, draws)  # type: ignore[assignment]
    return instance


def position_of(servers: Sequence[ServerView], index: int) -> int | None:
    """Position of the server with cluster index ``index`` among ``servers``, or None if absent."""
    if index < len(servers) and servers[index].index == index:
        return index  # every server routable: positions are indices
    for position, server in enumerate(servers):
        if server.index == index:
            return position
    return None
