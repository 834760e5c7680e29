"""How a real balancer routes where it differs from orchsim's builtin router (``router.implementation``).

Each difference is one small module; ``strategy_for`` picks them. The builtin implementation uses the
scenario's strategy unchanged, so existing scenarios give the same results as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sim.implementations.haproxy_leastconn import HaproxyLeastconn
from sim.implementations.haproxy_random import HaproxyRandom
from sim.implementations.nginx_workers import NginxWorkers
from sim.rng import Draws
from sim.strategies import ServerView, Strategy, make_strategy

__all__ = ["IMPLEMENTATIONS", "strategy_for"]

IMPLEMENTATIONS = ("builtin", "haproxy", "nginx")


def strategy_for(
    implementation: str,
    name: str,
    params: dict[str, Any],
    servers: Sequence[ServerView],
    draws: Draws,
    workers: int = 1,
) -> Strategy:
    """The strategy ``name`` as ``implementation`` runs it (``workers``: nginx worker processes)."""
    if implementation == "haproxy":
        if name == "least_connections":
            return HaproxyLeastconn(servers)
        if name in ("random", "power_of_two", "power_of_d"):
            draws_n = {"random": 1, "power_of_two": 2}.get(name, int(params.get("d", 2)))
            return HaproxyRandom(draws_n)
    if implementation == "nginx" and workers > 1:
        return NginxWorkers([make_strategy(name, params, servers, draws) for _ in range(workers)], servers)
    return make_strategy(name, params, servers, draws)
