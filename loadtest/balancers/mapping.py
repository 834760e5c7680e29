"""What each implementation in front of the mock backends plays of a scenario: one plan both config
writers read, or refusals.

Every scenario field that changes how requests are routed or served is either played or refused with
a line naming the field, by the mock service (``builtin``: orchsim's router and backends) as by a real
balancer; nothing is dropped in silence. ``UNPLAYED`` is the one list of fields some implementation
cannot play and why. The writers (``haproxy.py``, ``nginx.py``) only format a ``BalancerPlan``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sim.faults import KINDS as FAULT_KINDS
from sim.scenario import Cluster, Scenario
from sim.scenario.router import HealthCheck, OutlierEjection, Router, RouterRetries
from sim.strategies import STRATEGIES

__all__ = [
    "BALANCERS",
    "BALANCER_WAIT_HEADER",
    "HAPROXY_STRATEGIES",
    "MOCK",
    "NGINX_STRATEGIES",
    "SESSION_HEADER",
    "UNPLAYED",
    "BalancerPlan",
    "ServerAddress",
    "Unplayed",
    "backend_refusals",
    "millis",
    "placeholder_addresses",
    "plan_balancer",
    "refusals",
]

BALANCERS = ("haproxy", "nginx")
MOCK = "builtin"  # orchsim's own router and the mock backends (orchsim serve / validate --router builtin)
BALANCER_WAIT_HEADER = "X-Orchsim-Balancer-Wait-Ms"  # a balancer's own queueing wait (HAProxy's %Tw)
SESSION_HEADER = "X-Orchsim-Session"  # what consistent hashing hashes (the simulator's request.session)
# HAProxy retry-on / nginx proxy_next_upstream spellings of the status codes router retries may name
HAPROXY_RETRY_CODES = frozenset({404, 408, 425, 500, 501, 502, 503, 504})
NGINX_RETRY_CODES = frozenset({403, 404, 429, 500, 502, 503, 504})
# strategies each balancer has: scenario name -> balancer's own words (documented in README.md)
HAPROXY_STRATEGIES = {
    "round_robin": "roundrobin",
    "weighted_round_robin": "roundrobin",
    "least_connections": "leastconn",
    "random": "random(1)",
    "power_of_two": "random(2)",
    "power_of_d": "random(d)",
    "consistent_hash_bounded": "hash + hash-type consistent + hash-balance-factor",
    "central_queue": "leastconn + maxconn (the backend queue)",
    "first": "first + maxconn",
}
NGINX_STRATEGIES = {
    "round_robin": "(default round robin)",
    "weighted_round_robin": "weight=",
    "least_connections": "least_conn",
    "random": "random",
    "power_of_two": "random two least_conn",
}
QUEUEING = frozenset({"central_queue", "first"})  # the balancer holds requests while every server is at maxconn


@dataclass(frozen=True)
class ServerAddress:
    """Where one server of the pool listens."""

    name: str
    host: str
    port: int


@dataclass(frozen=True)
class BalancerPlan:
    """A scenario's routing, in the terms both balancers share; times are real seconds (scaled)."""

    implementation: str
    pool: str
    strategy: str
    params: dict[str, Any]
    slots: int
    servers: int
    workers: int
    health: HealthCheck | None
    outliers: OutlierEjection | None
    retries: RouterRetries | None
    connect_timeout_s: float
    response_timeout_s: float | None
    interval_scale: float = 1.0  # real seconds per simulated second (1 / time scale)
    max_body_bytes: int = 1_000_000
    notes: list[str] = field(default_factory=list)

    @property
    def queues(self) -> bool:
        """True when the balancer keeps requests while every server is at maxconn (HAProxy's queue)."""
        return self.strategy in QUEUEING

    def real_s(self, simulated_s: float) -> float:
        """A scenario duration on the wall clock of a run at this plan's time scale."""
        return simulated_s * self.interval_scale


@dataclass(frozen=True)
class Unplayed:
    """A scenario field some implementation cannot play: ``why[implementation]`` says why (an
    implementation not named plays it). A cluster field (``per_cluster``) is looked at in each cluster
    (``clusters.N.<name>``), a router field in the router (``router.<name>``)."""

    name: str
    is_set: Callable[[Scenario, Cluster], bool]
    why: dict[str, str]
    per_cluster: bool = True
    backend: bool = False  # the mock's servers cannot play it: behind a balancer too, they are the backends


def _unplayed_by(
    name: str,
    is_set: Callable[[Scenario, Cluster], bool],
    balancers: str | None,
    mock: str | None,
    per_cluster: bool = True,
) -> Unplayed:
    """An entry: why the balancers (``{implementation}`` names each) and why the mock cannot play it
    (None: it plays it)."""
    why = {} if balancers is None else {b: balancers.format(implementation=b) for b in BALANCERS}
    if mock is not None:
        why[MOCK] = mock + _MOCK_SEES
    return Unplayed(name, is_set, why, per_cluster)


def _router_field(name: str, is_set: Callable[[Router], bool], balancers: str | None, mock: str | None) -> Unplayed:
    return _unplayed_by(name, lambda s, c: is_set(s.router), balancers, mock, per_cluster=False)


def _llm(name: str, unset: object, why: str) -> Unplayed:
    """A field of an LLM cluster's service the mock's LLM model has not (set: other than ``unset``)."""
    entry = _unplayed_by(
        f"service.{name}", lambda s, c: c.service.kind == "llm" and getattr(c.service, name) != unset, None, why
    )
    return replace(entry, backend=True)


def _central(strategy: str | None) -> bool:
    """A strategy that holds requests at the router while every server is busy (central_queue, first)."""
    return strategy is not None and STRATEGIES[strategy].central


_MOCK_SEES = " (the simulator's only: validate would compare a model that has it with a mock that has not)"
_NO_CENTRAL_QUEUE = "the mock router keeps no central queue (central_queue, first: it sends to the least busy server)"
# the fields some implementation cannot play, cluster fields first (a balancer routes one cluster)
UNPLAYED: tuple[Unplayed, ...] = (
    _unplayed_by(
        "autoscale",
        lambda s, c: c.autoscale is not None,
        "servers that come and go need service discovery; not mapped",
        "the mock service has no autoscaler",
    ),
    # the mock servers play CoDel (sim.control.shedding.Codel)
    _unplayed_by(
        "codel", lambda s, c: c.codel is not None, "shedding in the servers' waiting rooms is not the balancer's", None
    ),
    Unplayed("strategy", lambda s, c: _central(c.strategy), {MOCK: _NO_CENTRAL_QUEUE}),
    _llm("kv_cache_tokens", None, "the mock's LLM servers keep no KV cache (a batch of at most slots)"),
    _llm("preemption", "none", "the mock's LLM servers never preempt (they keep no KV cache)"),
    _llm("prefix_cache", None, "the mock's LLM servers keep no prefix cache"),
    _llm("scheduling", "fcfs", "the mock's LLM servers admit first come, first served"),
    _llm("step_s", None, "the mock's LLM servers have no step-level scheduler"),
    Unplayed(
        "strategy",
        lambda s, c: _central(s.router.strategy) and any(k.strategy is None for k in s.clusters),
        {MOCK: _NO_CENTRAL_QUEUE},
        per_cluster=False,
    ),
    _router_field(
        "report_interval",
        lambda r: r.report_interval is not None,
        "a balancer counts its own connections; stale reports not mapped",
        "the mock router sees its own live counts, no stale load reports",
    ),
    _router_field(
        "concurrency",
        lambda r: r.concurrency is not None,
        "{implementation} holds connections over its limit in the accept queue instead of answering 503; not mapped",
        None,
    ),
    _router_field(
        "overhead",
        lambda r: r.overhead > 0,
        "a balancer adds its own delay, not a configured one",
        "the mock router adds its own delay, not a configured one",
    ),
    _router_field("panic_threshold", lambda r: r.panic_threshold > 0, "{implementation} has no panic routing", None),
    _router_field(
        "adaptive_concurrency",
        lambda r: r.adaptive_concurrency is not None,
        "{implementation} has no adaptive concurrency limit",
        "the mock router has no adaptive concurrency limit",
    ),
    _router_field(
        "cross_region_latency",
        lambda r: r.cross_region_latency > 0,
        "one pool, no regions",
        "the mock router adds no delay to a request served outside its region",
    ),
)


def refusals(scenario: Scenario, implementation: str) -> list[str]:
    """``field: message`` for every field ``implementation`` (a balancer, or ``builtin``: the mock
    service) cannot play (empty: all played)."""
    if implementation == MOCK:
        problems = _unplayed(scenario, MOCK, per_cluster=True) + _unplayed(scenario, MOCK, per_cluster=False)
        return problems + _fault_problems(scenario, MOCK)
    problems = _cluster_problems(scenario)
    if len(scenario.clusters) == 1:
        problems += _unplayed(scenario, implementation, per_cluster=True)
        problems += _strategy_problems(scenario, implementation)
    problems += _unplayed(scenario, implementation, per_cluster=False)
    problems += _router_problems(scenario, implementation)
    problems += _fault_problems(scenario, implementation)
    return problems


def backend_refusals(scenario: Scenario) -> list[str]:
    """``field: message`` for every field the mock's servers cannot play: serving behind HAProxy or nginx,
    they are still the backends (``export`` writes a balancer's config and never asks)."""
    return _unplayed(scenario, MOCK, per_cluster=True, backends_only=True)


def _unplayed(scenario: Scenario, implementation: str, per_cluster: bool, backends_only: bool = False) -> list[str]:
    """The lines of ``UNPLAYED`` for the cluster (or router) fields set in ``scenario`` (``backends_only``:
    only the fields of the mock's servers)."""
    problems = []
    entries = [
        e
        for e in UNPLAYED
        if e.per_cluster == per_cluster and implementation in e.why and (e.backend or not backends_only)
    ]
    if not per_cluster:
        return [
            f"router.{e.name}: {e.why[implementation]}" for e in entries if e.is_set(scenario, scenario.clusters[0])
        ]
    for number, cluster in enumerate(scenario.clusters):
        problems += [
            f"clusters.{number}.{e.name}: {e.why[implementation]}" for e in entries if e.is_set(scenario, cluster)
        ]
    return problems


def _cluster_problems(scenario: Scenario) -> list[str]:
    if len(scenario.clusters) != 1:
        return [
            f"clusters: {len(scenario.clusters)} clusters; a generated balancer config routes one pool "
            "(the choice between clusters, router.cluster_strategy, has no equivalent)"
        ]
    return []


def _strategy(scenario: Scenario) -> tuple[str, dict[str, Any], str]:
    cluster = scenario.clusters[0]
    if cluster.strategy is not None:
        return cluster.strategy, cluster.params or {}, "clusters.0.strategy"
    return scenario.router.strategy, scenario.router.params, "router.strategy"


def _strategy_problems(scenario: Scenario, implementation: str) -> list[str]:
    name, params, where = _strategy(scenario)
    known = HAPROXY_STRATEGIES if implementation == "haproxy" else NGINX_STRATEGIES
    if name not in known:
        why = {
            "central_queue": " (open-source nginx keeps no upstream queue: max_conns answers 502)",
            "first": " (open-source nginx keeps no upstream queue)",
            "power_of_d": " (nginx random draws two at most; power_of_two maps)",
            "consistent_hash_bounded": " (nginx hash ... consistent has no load bound)",
        }.get(name, "")
        return [f"{where}: {name} has no {implementation} equivalent{why}"]
    problems = []
    if implementation == "haproxy" and name == "consistent_hash_bounded" and params.get("vnodes", 64) % 16:
        problems.append(
            f"{where.replace('strategy', 'params')}.vnodes: HAProxy puts 16 points per weight unit "
            f"on its ring; give a multiple of 16 (got {params['vnodes']})"
        )
    if name in QUEUEING and scenario.router.queue_limit is not None:
        problems.append("router.queue_limit: HAProxy has no limit on its backend queue (timeout queue bounds it)")
    return problems


def _router_problems(scenario: Scenario, implementation: str) -> list[str]:
    router = scenario.router
    problems = []
    if implementation == "haproxy" and router.instances > 1:
        problems.append("router.instances: HAProxy's threads share one balancer state; give 1")
    problems += _outlier_problems(scenario, implementation)
    problems += _retry_problems(router.retries, implementation)
    return problems


def _outlier_problems(scenario: Scenario, implementation: str) -> list[str]:
    outliers = scenario.router.outlier_ejection
    if outliers is None:
        return []
    if implementation == "nginx":
        return [
            "router.outlier_ejection: nginx has no ejection after consecutive 5xx answers (max_fails counts "
            "failures in a window)"
        ]
    problems = []
    if scenario.router.health_check is None:
        problems.append(
            "router.outlier_ejection: HAProxy brings a marked-down server back only through its "
            "health checks; set router.health_check too"
        )
    if outliers.max_ejected_fraction < 1:
        problems.append(
            "router.outlier_ejection.max_ejected_fraction: HAProxy has no cap on servers marked "
            f"down by observe layer7; give 1 (got {outliers.max_ejected_fraction:g})"
        )
    return problems


def _retry_problems(retries: RouterRetries | None, implementation: str) -> list[str]:
    if retries is None:
        return []
    allowed = HAPROXY_RETRY_CODES if implementation == "haproxy" else NGINX_RETRY_CODES
    bad = [code for code in retries.on if code not in allowed]
    if bad:
        return [
            f"router.retries.on: {implementation} cannot retry on {', '.join(map(str, bad))} "
            f"(it can on {', '.join(map(str, sorted(allowed)))})"
        ]
    return []


def _fault_problems(scenario: Scenario, implementation: str) -> list[str]:
    """What each fault's kind cannot do behind ``implementation`` (its entry in sim.faults says)."""
    problems = []
    for i, fault in enumerate(scenario.faults):
        kind = FAULT_KINDS[fault.kind]
        problem = (
            kind.mock_problem(scenario) if implementation == MOCK else kind.balancer_problem(scenario, implementation)
        )
        if problem:
            problems.append(f"faults.{i}.kind: {problem}")
    return problems


def plan_balancer(
    scenario: Scenario, implementation: str, time_scale: float = 1.0, max_body_bytes: int = 1_000_000
) -> BalancerPlan:
    """The plan for ``implementation``; ValueError with every refusal when a field cannot be mapped."""
    if implementation not in BALANCERS:
        raise ValueError(f"--router: must be one of {', '.join(BALANCERS)} (got {implementation!r})")
    problems = refusals(scenario, implementation)
    if problems:
        raise ValueError("\n".join(problems))
    cluster = scenario.clusters[0]
    name, params, _ = _strategy(scenario)
    router = scenario.router
    return BalancerPlan(
        implementation=implementation,
        pool=cluster.name,
        strategy=name,
        params=dict(params),
        slots=cluster.slots,
        servers=cluster.servers,
        workers=router.instances,
        health=router.health_check,
        outliers=router.outlier_ejection,
        retries=router.retries,
        connect_timeout_s=router.connect_timeout / time_scale,
        response_timeout_s=None if scenario.clients.timeout is None else scenario.clients.timeout / time_scale,
        interval_scale=1.0 / time_scale,
        max_body_bytes=max_body_bytes,
    )


def placeholder_addresses(plan: BalancerPlan, first_port: int = 9001) -> list[ServerAddress]:
    """Addresses for an exported config: 127.0.0.1 and consecutive ports, to be replaced by the user's."""
    return [ServerAddress(f"{plan.pool}-{k}", "127.0.0.1", first_port + k) for k in range(plan.servers)]


def millis(seconds: float) -> str:
    """A duration as both balancers read it: whole milliseconds, at least 1."""
    return f"{max(1, round(seconds * 1000))}ms"
