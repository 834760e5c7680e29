"""HAProxy ``balance random(<draws>)``: the least loaded of ``draws`` servers drawn with replacement.

From HAProxy 2.6's source (``get_server_rnd`` in ``src/backend.c``; the ring in ``src/lb_chash.c``, see
``haproxy_ring``): each draw takes a uniform 32-bit number (``statistical_prng``, a xorshift32) as
the key of the consistent-hash ring and gets the server of the nearest node, so a server is drawn
with its share of the ring (16 nodes per unit of weight at hashed places: uneven; on 8 servers of
weight 1 the shares range from 0.82 to 1.20 of an eighth). Draws are independent, so two may return
the same server (then there is nothing to compare: with n servers one choice in n behaves like
random(1)). A later draw replaces the best so far unless it has more connections being served per
weight (``curr->served * prev->cur_eweight > prev->served * curr->cur_eweight`` keeps the earlier),
so the later draw wins ties. ``served`` counts connections passed to the server, not requests in
HAProxy's queues; orchsim's configs set no ``maxconn`` for random, so nothing waits in HAProxy and
it equals the requests in flight at the server (its own waiting room included). Not modelled: the
``avoid`` argument of a redispatched retry (the simulator's router retries draw afresh).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import ClassVar

from sim.implementations.haproxy_ring import RING_SPACE, share_ends
from sim.rng import Draws
from sim.strategies import RequestView, ServerView

__all__ = ["HaproxyRandom"]


class HaproxyRandom:
    """The least loaded (per weight) of ``draws`` independent draws on HAProxy's ring (later draw wins ties)."""

    name: ClassVar[str] = "power_of_two"
    description: ClassVar[str] = "HAProxy random(draws): draws with replacement on its consistent-hash ring"
    central: ClassVar[bool] = False

    def __init__(self, draws: int, weights: Sequence[int] | None = None) -> None:
        self.draws = draws
        self.weights = weights  # by server index; None: weight 1 each (what orchsim's configs write)
        self._ends: dict[tuple[int, ...], list[int]] = {}  # by the indices of the servers up: their ring
        # the engine hands over a new list whenever the servers up change: the last one's ring is kept
        # with a reference to it, so an identical object is the same list, not a recycled id
        self._last: tuple[Sequence[ServerView], list[int]] | None = None

    def _weight(self, index: int) -> int:
        return 1 if self.weights is None else self.weights[index]

    def ring_ends(self, servers: Sequence[ServerView]) -> list[int]:
        """Cumulative 32-bit shares of ``servers`` on the ring of just them (puid = index + 1: the
        configuration lists the servers in index order, without ``id``)."""
        key = tuple(s.index for s in servers)
        ends = self._ends.get(key)
        if ends is None:
            ends = self._ends[key] = share_ends({index + 1: self._weight(index) for index in key})
        return ends

    def choose(self, servers: Sequence[ServerView], request: RequestView, draws: Draws) -> int:
        last = self._last
        if last is not None and last[0] is servers:
            ends = last[1]
        else:
            ends = self.ring_ends(servers)
            self._last = (servers, ends)
        best = bisect_right(ends, draws.index(RING_SPACE))
        for _ in range(self.draws - 1):
            other = bisect_right(ends, draws.index(RING_SPACE))
            if self._no_busier(servers[other], servers[best]):
                best = other
        return best

    def _no_busier(self, later: ServerView, best: ServerView) -> bool:
        """True when ``later`` has no more connections per weight than ``best`` (it then replaces it)."""
        if self.weights is None:
            return later.in_flight <= best.in_flight
        return later.in_flight * self.weights[best.index] <= best.in_flight * self.weights[later.index]
