"""First routing level (``router.cluster_strategy``): which of the clusters able to serve a request gets it."""

from __future__ import annotations

from collections.abc import Sequence, Sized
from typing import Protocol, TypeVar

from sim.rng import Uniform

__all__ = ["CLUSTER_CHOICES", "ClusterChoice", "ClusterLoad", "choose_cluster"]


class ClusterPlace(Protocol):
    """A cluster's static weight and region."""

    @property
    def weight(self) -> float: ...
    @property
    def region(self) -> str | None: ...


class ClusterLoad(Protocol):
    """What the first level reads of a cluster."""

    @property
    def spec(self) -> ClusterPlace: ...
    @property
    def routable(self) -> Sized:
        """The servers the router sends to now."""

    @property
    def routable_slots(self) -> int:
        """Slots of those servers."""

    @property
    def load(self) -> int:
        """Requests in flight in the cluster."""


C = TypeVar("C", bound=ClusterLoad)


class ClusterChoice(Protocol):
    """A first-level rule: one of ``clusters`` for a request of users in ``region``, or None."""

    def __call__(self, clusters: Sequence[C], region: str | None, draws: Uniform, spill: float) -> C | None: ...


def _utilisation(cluster: ClusterLoad) -> float:
    return cluster.load / cluster.routable_slots


def _weighted_draw(clusters: Sequence[C], weights: list[float], draws: Uniform) -> C | None:
    total = sum(weights)
    if total <= 0:
        return None
    mark = draws.uniform() * total
    for cluster, weight in zip(clusters, weights, strict=True):
        mark -= weight
        if mark < 0:
            return cluster
    return next(c for c, w in zip(clusters, weights, strict=True) if w > 0)


def capacity_weighted(clusters: Sequence[C], region: str | None, draws: Uniform, spill: float) -> C | None:
    """At random, in proportion to the slots of servers that are up."""
    return _weighted_draw(clusters, [float(c.routable_slots) for c in clusters], draws)


def weighted(clusters: Sequence[C], region: str | None, draws: Uniform, spill: float) -> C | None:
    """At random, in proportion to the clusters' static weights (clusters with a server up)."""
    return _weighted_draw(clusters, [c.spec.weight if c.routable else 0.0 for c in clusters], draws)


def least_loaded(clusters: Sequence[C], region: str | None, draws: Uniform, spill: float) -> C | None:
    """The cluster with the lowest requests-in-flight per routable slot."""
    usable = [c for c in clusters if c.routable]
    return min(usable, key=_utilisation) if usable else None


def region_spillover(clusters: Sequence[C], region: str | None, draws: Uniform, spill: float) -> C | None:
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


def choose_cluster(
    choice: ClusterChoice, clusters: Sequence[C], region: str | None, draws: Uniform, spill: float
) -> C | None:
    """The cluster for a request ``clusters`` can serve: the only one (no draw, even when nothing in it
    is routable: it refuses then), else ``choice``'s; None when none can take it."""
    if len(clusters) == 1:
        return clusters[0]
    return choice(clusters, region, draws, spill)
