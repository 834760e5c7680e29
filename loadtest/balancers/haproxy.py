"""HAProxy configuration (2.6 syntax) from a ``BalancerPlan``: global, defaults, frontend, backend."""

from __future__ import annotations

from loadtest.balancers.mapping import (
    BALANCER_WAIT_HEADER,
    SESSION_HEADER,
    BalancerPlan,
    ServerAddress,
    millis,
)
from sim.implementations.weights import integer_weights

__all__ = ["haproxy_config"]

FOREVER_S = 3600.0  # HAProxy warns without client/server timeouts; "no timeout" becomes an hour


def haproxy_config(plan: BalancerPlan, servers: list[ServerAddress], bind: str, title: str, serving: bool) -> str:
    """The whole file; ``serving`` adds orchsim's own ``/ready`` answer (for ``orchsim serve``)."""
    lines = [f"# HAProxy configuration written by orchsim from scenario {title}", *_global(), "", *_defaults(plan)]
    lines += ["", *_frontend(plan, bind, serving), "", *_backend(plan, servers)]
    return "\n".join(lines) + "\n"


def _global() -> list[str]:
    return [
        "global",
        "    # foreground under orchsim (haproxy -db); no logging: orchsim measures on the client side",
        "    log stdout format raw local0 err",
        "    # one thread: one balancer state and no hand-over of connections between threads",
        "    nbthread 1",
    ]


def _defaults(plan: BalancerPlan) -> list[str]:
    response_s = plan.response_timeout_s if plan.response_timeout_s is not None else FOREVER_S
    queue_s = response_s  # orchsim's router lets a request wait until its client gives up
    return [
        "defaults",
        "    mode http",
        "    log global",
        "    # streamed answers: send each token as it comes instead of merging small packets",
        "    option http-no-delay",
        "    # clients that open a connection per request (orchsim's load generator does) still reach the servers",
        "    # over idle connections, as orchsim's router does, not over a new one each time (http-reuse safe)",
        "    http-reuse always",
        "    # router.connect_timeout: a server that does not accept a connection in time counts as down",
        f"    timeout connect {millis(plan.connect_timeout_s)}",
        "    # clients.timeout: the longest an answer may take (HAProxy: inactivity on the server side) -> 504",
        f"    timeout server {millis(response_s)}",
        f"    timeout client {millis(response_s)}",
        "    # a request waiting for a free server slot (maxconn) longer than this gets 503",
        f"    timeout queue {millis(queue_s)}",
        *_check_timeout(plan),
        *_abort_on_close(plan),
        *_retries(plan),
    ]


def _abort_on_close(plan: BalancerPlan) -> list[str]:
    if not plan.queues:
        return []
    return [
        "    # a request whose client gave up leaves the queue (orchsim's router queue skips it too)",
        "    option abortonclose",
    ]


def _check_timeout(plan: BalancerPlan) -> list[str]:
    if plan.health is None:
        return []
    return ["    # router.health_check.timeout", f"    timeout check {millis(plan.real_s(plan.health.timeout))}"]


def _retries(plan: BalancerPlan) -> list[str]:
    if plan.retries is None:
        return [
            "    # router.retries: null -> HAProxy retries nothing (its default is 3 connection retries)",
            "    retries 0",
        ]
    codes = " ".join(str(c) for c in plan.retries.on)
    return [
        f"    # router.retries: max {plan.retries.max}, each on another server, on {codes} and refused connections",
        f"    retries {plan.retries.max}",
        "    option redispatch 1",
        f"    retry-on conn-failure empty-response {codes}",
    ]


def _frontend(plan: BalancerPlan, bind: str, serving: bool) -> list[str]:
    lines = [
        "frontend llm",
        f"    bind {bind}",
        f"    http-request deny deny_status 413 if {{ req.hdr_val(content-length) gt {plan.max_body_bytes} }}",
    ]
    if serving:
        lines += [
            "    # orchsim serve: GET /ready as the contract says (the backends were ready before HAProxy started)",
            "    http-request return status 200 content-type application/json string "
            '"{\\"ready\\": true}" if { path /ready }',
        ]
    if plan.strategy == "consistent_hash_bounded":
        lines += [f"    # consistent hashing keys on the {SESSION_HEADER} request header"]
    return [*lines, f"    default_backend {plan.pool}"]


def _backend(plan: BalancerPlan, servers: list[ServerAddress]) -> list[str]:
    lines = [f"backend {plan.pool}", *_balance(plan)]
    if plan.health is not None:
        lines += [
            "    # router.health_check: active probes of each server's GET /health",
            "    option httpchk GET /health",
        ]
    if plan.queues:
        lines += [
            "    # how long each request waited in this backend's queue (%Tw, ms), for orchsim's load generator",
            f"    http-response set-header {BALANCER_WAIT_HEADER} %Tw",
        ]
    lines += [*_default_server(plan)]
    weights = _weights(plan)
    for server, weight in zip(servers, weights, strict=True):
        lines.append(f"    server {server.name} {server.host}:{server.port}{weight}")
    return lines


def _balance(plan: BalancerPlan) -> list[str]:
    name, params = plan.strategy, plan.params
    if name in ("round_robin", "weighted_round_robin"):
        return [f"    # router.strategy: {name}", "    balance roundrobin"]
    if name in ("least_connections", "central_queue"):
        why = "" if name == "least_connections" else "; with maxconn the shared backend queue is the central queue"
        return [
            f"    # router.strategy: {name} (ties: round robin among equally loaded servers){why}",
            "    balance leastconn",
        ]
    if name in ("random", "power_of_two", "power_of_d"):
        draws = {"random": 1, "power_of_two": 2}.get(name, int(params.get("d", 2)))
        return [
            f"    # router.strategy: {name}: the least loaded of {draws} draw(s) on the consistent-hash ring",
            f"    balance random({draws})",
        ]
    if name == "first":
        return [
            "    # router.strategy: first: the first server (by id) with a free slot under maxconn",
            "    balance first",
        ]
    factor = round(100 * (1 + float(params.get("epsilon", 0.25))))
    return [
        "    # router.strategy: consistent_hash_bounded: a ring, and a server over epsilon above the average passes on",
        f"    balance hdr({SESSION_HEADER})",
        "    hash-type consistent",
        f"    hash-balance-factor {factor}",
    ]


def _default_server(plan: BalancerPlan) -> list[str]:
    words: list[str] = []
    comments: list[str] = []
    if plan.queues:
        comments.append(f"clusters.0.slots: {plan.slots} -> maxconn (the rest waits in HAProxy's backend queue)")
        words.append(f"maxconn {plan.slots}")
    if plan.health is not None:
        h = plan.health
        comments.append(
            f"health_check: every {h.interval:g} s, down after {h.unhealthy_threshold} failures, "
            f"up after {h.healthy_threshold} successes"
        )
        words.append(
            f"check inter {millis(plan.real_s(h.interval))} fall {h.unhealthy_threshold} rise {h.healthy_threshold}"
        )
    if plan.outliers is not None:
        comments.append(f"outlier_ejection: marked down after {plan.outliers.consecutive_5xx} consecutive errors")
        words.append(f"observe layer7 error-limit {plan.outliers.consecutive_5xx} on-error mark-down")
    if not words:
        return []
    return [*(f"    # {c}" for c in comments), f"    default-server {' '.join(words)}"]


def _weights(plan: BalancerPlan) -> list[str]:
    if plan.strategy == "weighted_round_robin":
        weights = integer_weights(plan.params.get("weights"), plan.servers, 256)
        return [f" weight {w}" for w in weights]
    if plan.strategy == "consistent_hash_bounded":
        weight = int(plan.params.get("vnodes", 64)) // 16  # 16 ring points per weight unit
        return [f" weight {weight}"] * plan.servers
    return [""] * plan.servers
