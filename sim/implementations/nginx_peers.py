"""nginx's upstream peers as one worker process keeps them: connections, turns and failures.

Without a ``zone`` each worker process keeps this state for itself (nginx documentation,
ngx_http_upstream_module, ``zone``: the zone keeps "the group's configuration and run-time state
that are shared between worker processes"). What follows is nginx's own code (1.22:
ngx_http_upstream_round_robin.c and the least_conn and random modules), not a guess:

- A peer is skipped while ``fails >= max_fails`` and ``now - checked <= fail_timeout``, ``now`` being
  nginx's clock in whole seconds: a peer marked failed stays out between ``fail_timeout`` and
  ``fail_timeout + 1`` seconds after its last failure, then gets one request again.
- A failure (a refused connection, or an answer ``proxy_next_upstream`` names) adds one to ``fails``
  and sets ``accessed = checked = now``; choosing a peer whose ``checked`` is more than ``fail_timeout``
  old sets ``checked = now``, and a request that then ends without failure resets ``fails`` (it started
  after the last failure: ``accessed < checked``). Failures therefore add up until a success after a
  quiet ``fail_timeout``, not within a sliding window.
- When no peer may be chosen every ``fails`` is reset ("mark them as live for quick recovery") and the
  request gets 502 (503 in orchsim's configs, as the simulator answers).
- least_conn: fewest connections per weight, ties by smooth weighted round robin; round robin: smooth
  weighted round robin (a failure lowers the peer's ``effective_weight`` by weight / max_fails, and each
  turn it is considered gives one back); random: a draw weighted by weight, again when the peer is
  unusable or already tried, round robin after 21 such draws; random two least_conn: two different usable
  peers drawn so, the one with fewer connections per weight, the second on a tie.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sim.rng import Draws

__all__ = [
    "DRAWS_BEFORE_ROUND_ROBIN",
    "HealthCheckView",
    "NginxPeers",
    "PassiveHealth",
    "RetriesView",
    "fail_window",
    "next_upstream",
]


class HealthCheckView(Protocol):
    """What is read of a scenario's ``router.health_check`` (this layer sits below the scenario's)."""

    @property
    def interval(self) -> float: ...
    @property
    def unhealthy_threshold(self) -> int: ...
    @property
    def healthy_threshold(self) -> int: ...


class RetriesView(Protocol):
    """What is read of a scenario's ``router.retries``."""

    @property
    def on(self) -> list[int]: ...


DRAWS_BEFORE_ROUND_ROBIN = 21  # the random methods fall back to round robin when this many draws found too few
NEVER_FAILED = frozenset({403, 404})  # proxy_next_upstream: "never considered unsuccessful attempts"


def fail_window(health: HealthCheckView | None, time_scale: float) -> tuple[int, int]:
    """(max_fails, fail_timeout in whole seconds) for a scenario's health check, the balancer running
    ``time_scale`` times faster than the scenario: max_fails = unhealthy_threshold, fail_timeout = the
    time active checks take to bring a server back (interval x healthy_threshold), at least 1 s (nginx
    reads whole seconds). No health check: max_fails 0 (never marked failed)."""
    if health is None:
        return 0, 10
    seconds = max(1, math.ceil(health.interval * health.healthy_threshold / time_scale - 1e-9))
    return health.unhealthy_threshold, seconds


def next_upstream(retries: RetriesView | None) -> list[str]:
    """The conditions of ``proxy_next_upstream`` for the scenario's router retries (None: none, but
    errors and timeouts still count as failures)."""
    if retries is None:
        return ["error", "timeout"]
    words = ["error"] if 502 in retries.on or 503 in retries.on else []
    words += ["timeout"] if 504 in retries.on else []
    return words + [f"http_{code}" for code in retries.on]


@dataclass(frozen=True)
class PassiveHealth:
    """What one nginx counts as a failed attempt, and for how long it then skips the peer."""

    max_fails: int  # 0: peers are never skipped
    fail_timeout: int  # whole seconds of nginx's clock
    second_s: float  # simulated seconds per second of nginx's clock
    refused_fails: bool  # a refused connection counts ("error" in proxy_next_upstream)
    fail_codes: frozenset[int]  # answers that count (http_CODE in proxy_next_upstream)

    @classmethod
    def of(cls, health: HealthCheckView | None, retries: RetriesView | None, time_scale: float) -> PassiveHealth:
        max_fails, fail_timeout = fail_window(health, time_scale)
        words = next_upstream(retries)
        codes = frozenset(int(w[5:]) for w in words if w.startswith("http_")) - NEVER_FAILED
        return cls(max_fails, fail_timeout, time_scale, "error" in words, codes)

    def failed(self, code: int, refused: bool) -> bool:
        """True when an attempt that ended with ``code`` (``refused``: the connection was) is a failure."""
        return (refused and self.refused_fails) or code in self.fail_codes


class NginxPeers:
    """One worker's peers (by server index) and its balancing method over them."""

    def __init__(self, method: str, weights: list[int], passive: PassiveHealth) -> None:
        count = len(weights)
        self.method = method
        self.passive = passive
        self.weight = list(weights)
        self.effective = list(weights)
        self.current = [0] * count
        self.conns = [0] * count
        self.fails = [0] * count
        self.accessed = [0] * count
        self.checked = [0] * count

    def clock(self, now_s: float) -> int:
        """nginx's time: whole seconds."""
        return math.floor(now_s / self.passive.second_s + 1e-9)

    def usable(self, index: int, now: int) -> bool:
        """Not skipped for failures (nginx: max_fails, fail_timeout)."""
        p = self.passive
        return not (p.max_fails and self.fails[index] >= p.max_fails and now - self.checked[index] <= p.fail_timeout)

    def pick(self, indices: Sequence[int], now_s: float, draws: Draws, tried: set[int]) -> int:
        """The server index this worker sends to (its connection counted), or -1: no peer may be chosen."""
        now = self.clock(now_s)
        open_ = [i for i in indices if i not in tried and self.usable(i, now)]
        best = self._choose(indices, open_, draws, tried, now)
        if best < 0:
            for i in indices:
                self.fails[i] = 0  # all peers failed: mark them as live for quick recovery
            return -1
        if now - self.checked[best] > self.passive.fail_timeout:
            self.checked[best] = now
        self.conns[best] += 1
        return best

    def _choose(self, indices: Sequence[int], open_: list[int], draws: Draws, tried: set[int], now: int) -> int:
        if not open_:
            return -1
        if self.method == "least_connections":
            return self._least_conn(open_)
        if self.method in ("random", "power_of_two"):
            return self._random(indices, draws, tried, now, 2 if self.method == "power_of_two" else 1)
        return self._smooth(open_)

    def _smooth(self, open_: list[int]) -> int:
        """Smooth weighted round robin over ``open_`` (ngx_http_upstream_get_peer)."""
        best, total = -1, 0
        for i in open_:
            self.current[i] += self.effective[i]
            total += self.effective[i]
            if self.effective[i] < self.weight[i]:
                self.effective[i] += 1
            if best < 0 or self.current[i] > self.current[best]:
                best = i
        self.current[best] -= total
        return best

    def _least_conn(self, open_: list[int]) -> int:
        conns, weight = self.conns, self.weight
        best = open_[0]
        for i in open_[1:]:
            if conns[i] * weight[best] < conns[best] * weight[i]:
                best = i
        ties = [i for i in open_ if conns[i] * weight[best] == conns[best] * weight[i]]
        return best if len(ties) == 1 else self._smooth(ties)

    def _random(self, indices: Sequence[int], draws: Draws, tried: set[int], now: int, wanted: int) -> int:
        """``wanted`` (1 or 2) different usable peers by weighted draws; of two, fewer connections per weight."""
        if wanted == 2 and len(indices) < 2:
            return self._smooth([i for i in indices if i not in tried and self.usable(i, now)])
        cumulative = [0]
        for i in indices:
            cumulative.append(cumulative[-1] + self.weight[i])
        found: list[int] = []
        for _ in range(DRAWS_BEFORE_ROUND_ROBIN):
            x = draws.index(cumulative[-1])
            k = next(j for j in range(len(indices)) if x < cumulative[j + 1])
            peer = indices[k]
            if peer in found or peer in tried or not self.usable(peer, now):
                continue
            found.append(peer)
            if len(found) == wanted:
                break
        else:
            return self._smooth([i for i in indices if i not in tried and self.usable(i, now)])
        if wanted == 1:
            return found[0]
        first, second = found
        return first if self.conns[second] * self.weight[first] > self.conns[first] * self.weight[second] else second

    def free(self, index: int, failed: bool, now_s: float) -> None:
        """The attempt this worker sent to ``index`` is over (ngx_http_upstream_free_round_robin_peer)."""
        self.conns[index] -= 1
        max_fails = self.passive.max_fails
        if failed:
            now = self.clock(now_s)
            self.fails[index] += 1
            self.accessed[index] = self.checked[index] = now
            if max_fails:
                self.effective[index] = max(0, self.effective[index] - self.weight[index] // max_fails)
        elif self.accessed[index] < self.checked[index]:
            self.fails[index] = 0
