"""First routing level: which of the clusters able to serve a request's model gets it."""

from __future__ import annotations

from collections.abc import Callable

from sim.engine.cluster import Cluster
from sim.rng import Draws

__all__ = ["CLUSTER_CHOICES", "ClusterChoice"]

ClusterChoice = Callable[[list[Cluster], "str | None", Draws, float], "Cluster | None"]


def _utilisation(cluster: Cluster) -> float:
    return cluster.load / cluster.routable_slots


def _weighted_draw(clusters: list[Cluster], weights: list[float], draws: Draws) -> Cluster | None:
    total = sum(weights)
    if total <= 0:
        return None
    mark = draws.uniform() * total
    for cluster, weight in zip(clusters, weights, strict=True):
        mark -= weight
        if mark < 0:
            return cluster
    return next(c for c, w in zip(clusters, weights, strict=True) if w > 0)


def capacity_weighted(clusters: list[Cluster], region: str | None, draws: Draws, spill: float) -> Cluster | None:
    """At random, in proportion to the slots of servers that are up."""
    return _weighted_draw(clusters, [float(c.routable_slots) for c in clusters], draws)


def weighted(clusters: list[Cluster], region: str | None, draws: Draws, spill: float) -> Cluster | None:
    """At random, in proportion to the clusters' static weights (clusters with a server up)."""
    return _weighted_draw(clusters, [c.spec.weight if c.routable else 0.0 for c in clusters], draws)


def least_loaded(clusters: list[Cluster], region: str | None, draws: Draws, spill: float) -> Cluster | None:
    """The cluster with the lowest requests-in-flight per routable slot."""
    usable = [c for c in clusters if c.routable]
    return min(usable, key=_utilisation) if usable else None


def region_spillover(clusters: list[Cluster], region: str | None, draws: Draws, spill: float) -> Cluster | None:
    """The least loaded cluster of the request's region while under ``spill`` utilisation; else the
    least loaded cluster elsewhere that is under it; else the least loaded of all."""
    usable = [c for c in clusters if c.routable]
    home = [c for c in usable if c.spec.region == region]
    for group in (home, [c for c in usable if c.spec.region != region]):
        under = [c for c in group if _utilisation(c) < spill]
        if under:
            return min(under, key=_utilisation)
    return min(usable, key=_utilisation) if usable else None


CLUSTER_CHOICES: dict[str, ClusterChoice] = {
    "capacity_weighted": capacity_weighted,
    "weighted": weighted,
    "least_loaded": least_loaded,
    "region_spillover": region_spillover,
}
