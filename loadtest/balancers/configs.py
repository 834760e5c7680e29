"""A balancer's config text for a scenario: the plan, the addresses, the writer."""

from __future__ import annotations

from loadtest.balancers.haproxy import haproxy_config
from loadtest.balancers.mapping import BalancerPlan, ServerAddress
from loadtest.balancers.nginx import nginx_config

__all__ = ["config_text"]


def config_text(plan: BalancerPlan, servers: list[ServerAddress], port: int, title: str, serving: bool) -> str:
    """The config for ``plan``, listening on 127.0.0.1:``port``, sending to ``servers``."""
    if plan.implementation == "haproxy":
        return haproxy_config(plan, servers, f"127.0.0.1:{port}", title, serving)
    return nginx_config(plan, servers, f"127.0.0.1:{port}", title, serving)
