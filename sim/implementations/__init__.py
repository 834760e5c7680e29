"""How a real balancer routes where it differs from orchsim's builtin router (``router.implementation``).

Each difference is one small module; ``strategy_for`` picks them. The builtin implementation uses the
scenario's strategy unchanged, so existing scenarios give the same results as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sim.implementations.haproxy_leastconn import HaproxyLeastconn
from sim.implementations.haproxy_random import HaproxyRandom
from sim.implementations.nginx_peers import HealthCheckView, PassiveHealth, RetriesView
from sim.implementations.nginx_workers import NGINX_METHODS, NginxWorkers
from sim.implementations.weights import integer_weights
from sim.rng import Draws
from sim.strategies import ServerView, Strategy, make_strategy

__all__ = ["IMPLEMENTATIONS", "NGINX_WEIGHT_TOP", "RouterView", "strategy_for"]

IMPLEMENTATIONS = ("builtin", "haproxy", "nginx")
NGINX_WEIGHT_TOP = 100  # the largest weight= orchsim's nginx configs write


class RouterView(Protocol):
    """What is read of the scenario's ``router`` (this layer sits below the scenario's)."""

    @property
    def implementation(self) -> str: ...
    @property
    def instances(self) -> int: ...
    @property
    def health_check(self) -> HealthCheckView | None: ...
    @property
    def retries(self) -> RetriesView | None: ...
    @property
    def balancer_time_scale(self) -> float: ...


def strategy_for(
    router: RouterView,
    name: str,
    params: dict[str, Any],
    servers: Sequence[ServerView],
    draws: Draws,
    clock: Callable[[], float],
) -> Strategy:
    """The strategy ``name`` as ``router.implementation`` runs it (``clock``: the simulated time now)."""
    if router.implementation == "haproxy":
        if name == "least_connections":
            return HaproxyLeastconn(servers)
        if name in ("random", "power_of_two", "power_of_d"):
            draws_n = {"random": 1, "power_of_two": 2}.get(name, int(params.get("d", 2)))
            return HaproxyRandom(draws_n)
    if router.implementation == "nginx" and name in NGINX_METHODS:
        weights = integer_weights(params.get("weights"), len(servers), NGINX_WEIGHT_TOP)
        passive = PassiveHealth.of(router.health_check, router.retries, router.balancer_time_scale)
        return NginxWorkers(name, weights, router.instances, passive, clock)
    return make_strategy(name, params, servers, draws)
