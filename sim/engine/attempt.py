"""One attempt of a user request and where it stands: ``State``, one enum for both of its sides.

An attempt has two sides that end independently: the client's (it waits for an answer, until the
server side answers or its timeout does) and the server side's (routing, a queue, a slot, until
an answer, a refusal, a drop or a crash). Either may end first, so the states are the pairs that
can occur, with whether the attempt holds a router slot (from admission to the client's answer):

    state         client side   server side   router slot
    SENT          waits         under way     none (not admitted yet, or refused one and retried by the router)
    ROUTED        waits         under way     held
    ABANDONED     has answered  under way     none (the client timed out; the server still works on it)
    ENDED_ROUTED  waits         over          held (its answer is on its way, or a crash lost it: the timeout answers)
    ENDED         waits         over          none
    DONE          has answered  over          none (the attempt is recorded)

"The server side is over" is membership of ``SERVER_OVER`` (ENDED_ROUTED, ENDED, DONE): that is also
what marks an attempt dropped from a waiting room, which its queue skips when it comes to it. The
engine tests states by identity or membership, never by order: an ``IntEnum``'s ``<`` costs about as
much as three identity tests on CPython 3.11, and these tests are on every request's path.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Any, Final

__all__ = [
    "ABANDONED",
    "DONE",
    "ENDED",
    "ENDED_ROUTED",
    "NATIVE",
    "ROUTED",
    "SENT",
    "SERVER_OVER",
    "Attempt",
    "Finish",
    "State",
]


class State(IntEnum):
    """Where an attempt stands, client and server side together (module docstring)."""

    SENT = 0
    ROUTED = 1
    ABANDONED = 2
    ENDED_ROUTED = 3
    ENDED = 4
    DONE = 5


# the members as module constants: the engine's hot path compares them by identity
SENT: Final = State.SENT
ROUTED: Final = State.ROUTED
ABANDONED: Final = State.ABANDONED
ENDED_ROUTED: Final = State.ENDED_ROUTED
ENDED: Final = State.ENDED
DONE: Final = State.DONE
SERVER_OVER: Final = frozenset({ENDED_ROUTED, ENDED, DONE})  # its server side is over
# this module runs compiled by mypyc (an extension module, not its .py): the engine's classes are native
NATIVE: Final = not __file__.endswith(".py")
NAN: Final = float("nan")  # a constant: a compiled class evaluates the defaults below for each instance


class Attempt:
    """One attempt of a user request, from the client's send to its answer.

    ``outcome`` and ``outcome_delay_s`` are set when service starts and ``enqueued_s`` when it
    joins a waiting room; they are read only after that, so the constructor leaves them unset.
    """

    state: State  # set by the constructor: a class default of a (mutable) enum type would keep CPython 3.11
    # from specialising the loads and stores of ``state``, the hottest attribute of the request path
    outcome: int  # what the server will answer when service ends
    outcome_delay_s: float  # when the answer is an injected error: its latency
    enqueued_s: float  # when it entered a server's waiting room

    # defaults shared by every attempt until one sets its own (fewer stores per attempt: the
    # engine makes one per request and retry, and its constructor was a hot spot)
    service_u = -1.0  # per-request service draws: the request's quantile (-1: the server's stream)
    priority = 0  # criticality of its class: lower is shed first
    prompt_tokens = 1
    output_tokens = 1
    tokens = 2  # prompt + answer: what token-aware routing counts
    first_token_s = NAN
    limited = False  # counted by its cluster's adaptive concurrency limit (the limiter's bookkeeping)
    hop = 0  # router retries of this client attempt so far
    start_s = NAN
    end_s = NAN
    server_end_s = NAN
    code = 0
    server: Any = None
    cluster = -1

    def __init__(self, req: int, number: int, klass: int, session: int, work: float, sent_s: float) -> None:
        self.req = req
        self.number = number
        self.klass = klass
        self.session = session  # affinity key (a session or prefix id)
        self.work = work  # work units: the class's service-time multiplier
        self.sent_s = sent_s
        self.state = SENT

    @property
    def cancelled(self) -> bool:
        """Dropped from a waiting room: its server side ended while it waited (its client gave up)."""
        return self.state in SERVER_OVER

    @property
    def over(self) -> bool:
        """Nothing more passes through the balancer for it: its client has an answer, or its server side ended."""
        return self.state is not ROUTED and self.state is not SENT


Finish = Callable[[Attempt, int], None]  # the server side of an attempt is over with a code (0: dropped, nobody told)
