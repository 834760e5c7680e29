"""Which servers the router sends to, which strategy picks among them, which clusters serve a request."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sim.implementations import strategy_for
from sim.rng import Draws
from sim.strategies import ServerView, Strategy

if TYPE_CHECKING:  # scenario models for types only: the control plane stands below the scenario
    from sim.scenario import Cluster as ClusterSpec
    from sim.scenario import Router as RouterSpec

__all__ = ["RoutableState", "build_strategy", "is_remote", "routable", "serves", "strategy_spec"]


class RoutableState(Protocol):
    """What decides whether the router sends new requests to a server."""

    provisioned: bool  # False: an autoscaling slot not in service
    drained: bool  # retired by a drain: nothing new, ever
    probed_healthy: bool  # the health checks' verdict
    ejected: bool  # outlier ejection

    @property
    def up(self) -> bool:
        """Not crashed (what service discovery says)."""


R = TypeVar("R", bound=RoutableState)


def routable(servers: Sequence[R], checked: bool, panic_threshold: float, passive: bool = False) -> list[R]:
    """The servers the router sends to: in service, not drained, up (``checked``: passing their
    health checks instead: the router then sees crashes only through its probes) and not ejected;
    ``passive``: every one in service and not drained (the strategy skips the servers it saw fail).
    The panic rule: below ``panic_threshold`` of the servers in service and not drained, it sends
    to every one of them, whatever their health."""
    candidates = [s for s in servers if s.provisioned and not s.drained]
    usable = [s for s in candidates if (s.probed_healthy if checked else s.up) and not s.ejected]
    if passive:
        usable = candidates
    if candidates and len(usable) < panic_threshold * len(candidates):
        return candidates
    return usable


def strategy_spec(router: RouterSpec, cluster: ClusterSpec) -> tuple[str, dict[str, Any], str]:
    """The strategy a cluster runs: (name, parameters, the field the parameters come from). A
    cluster's own ``strategy`` wins over the router's; its ``params`` go only with it."""
    if cluster.strategy is None:
        return router.strategy, router.params, "router.params"
    return cluster.strategy, cluster.params or {}, "params"


def build_strategy(
    router: RouterSpec, cluster: ClusterSpec, servers: Sequence[ServerView], draws: Draws, clock: Callable[[], float]
) -> Strategy:
    """The strategy instance of one cluster over ``servers``, as ``router.implementation`` runs it
    (``clock``: the scenario's time now, for a balancer's passive health)."""
    name, params, _ = strategy_spec(router, cluster)
    return strategy_for(router, name, params, servers, draws, clock)


def serves(cluster: ClusterSpec, model: str | None, class_name: str) -> bool:
    """Whether ``cluster`` takes a request for ``model`` (None: any) of class ``class_name`` (a
    migrated twin ``NAME@MODEL`` keeps its class's dedicated pool)."""
    base = class_name.split("@", 1)[0]
    return (model is None or cluster.models is None or model in cluster.models) and (
        cluster.classes is None or base in cluster.classes
    )


def is_remote(cluster_region: str | None, home_region: str | None) -> bool:
    """Whether a request of users in ``home_region`` crosses regions to a cluster in ``cluster_region``."""
    return home_region is not None and cluster_region not in (None, home_region)
