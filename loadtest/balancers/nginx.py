"""nginx configuration (1.22 syntax) from a ``BalancerPlan``: events, http, upstream, server."""

from __future__ import annotations

import json

from loadtest.balancers.mapping import BalancerPlan, ServerAddress, millis
from loadtest.errors import error_body
from sim.implementations import NGINX_WEIGHT_TOP
from sim.implementations.nginx_peers import fail_window, next_upstream
from sim.implementations.weights import integer_weights

__all__ = ["nginx_config"]

FOREVER_S = 3600.0
# the mock's own 503 body (OpenAI's error shape, code "service_unavailable"), so clients read both alike
UNAVAILABLE_BODY = json.dumps(error_body(503, "no server to send to"))


def nginx_config(plan: BalancerPlan, servers: list[ServerAddress], listen: str, title: str, serving: bool) -> str:
    """The whole file (paths relative to nginx's ``-p`` prefix); ``serving`` adds orchsim's ``/ready``."""
    lines = [
        f"# nginx configuration written by orchsim from scenario {title}",
        "# router.instances: each worker process balances only the connections it accepted itself",
        f"worker_processes {plan.workers};",
        "pid nginx.pid;",
        "error_log stderr error;",
        "events { worker_connections 4096; }",
        "",
        "http {",
        "    access_log off;",
        "    # temporary files under the prefix (-p), so that nginx runs without root",
        *(f"    {kind}_temp_path {kind}_temp;" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")),
        f"    client_max_body_size {plan.max_body_bytes};",
        "",
        *_upstream(plan, servers),
        "",
        *_server(plan, listen, serving),
        "}",
    ]
    return "\n".join(lines) + "\n"


def _upstream(plan: BalancerPlan, servers: list[ServerAddress]) -> list[str]:
    lines = [f"    upstream {plan.pool} {{", *_method(plan)]
    if plan.workers > 1:
        lines += [f"        # no zone: each of the {plan.workers} workers keeps its own counters and failure windows"]
    weights = integer_weights(plan.params.get("weights"), plan.servers, NGINX_WEIGHT_TOP)
    passive = _passive(plan)
    for server, weight in zip(servers, weights, strict=True):
        weight_text = f" weight={weight}" if plan.strategy == "weighted_round_robin" else ""
        lines.append(f"        server {server.host}:{server.port}{weight_text} {passive};")
    lines += ["        keepalive 64;  # after the balancing method, as nginx requires", "    }"]
    return lines


def _method(plan: BalancerPlan) -> list[str]:
    name = plan.strategy
    words = {
        "round_robin": [],
        "weighted_round_robin": [],
        "least_connections": ["least_conn;"],
        "random": ["random;"],
        "power_of_two": ["random two least_conn;"],
    }[name]
    return [f"        # router.strategy: {name}", *(f"        {w}" for w in words)]


def _passive(plan: BalancerPlan) -> str:
    """Passive health: nginx has no active probes (open source); a server fails ``max_fails`` times
    (until a success after a quiet ``fail_timeout``) and is skipped for ``fail_timeout``, in whole seconds
    (time-scaled runs round up to 1 s); the simulator models the same numbers (sim.implementations)."""
    max_fails, fail_timeout_s = fail_window(plan.health, 1.0 / plan.interval_scale)
    if not max_fails:
        return "max_fails=0"  # never marked down: orchsim's router without health checks never marks either
    return f"max_fails={max_fails} fail_timeout={fail_timeout_s}s"


def _server(plan: BalancerPlan, listen: str, serving: bool) -> list[str]:
    response_s = plan.response_timeout_s if plan.response_timeout_s is not None else FOREVER_S
    lines = [
        "    server {",
        *_listen(plan, listen),
        "        # router.connect_timeout, clients.timeout (nginx: between two reads from the server) -> 504",
        f"        proxy_connect_timeout {millis(plan.connect_timeout_s)};",
        f"        proxy_read_timeout {millis(response_s)};",
        f"        proxy_send_timeout {millis(response_s)};",
        *_next_upstream(plan),
        "        # an unreachable server is 503 in orchsim's router and simulator; nginx's own word is 502",
        "        error_page 502 =503 @unavailable;",
        "        location @unavailable {",
        "            default_type application/json;",
        f"            return 503 '{UNAVAILABLE_BODY}';",
        "        }",
    ]
    if serving:
        lines += ["        location = /ready { default_type application/json; return 200 '{\"ready\": true}'; }"]
    lines += [
        "        location / {",
        f"            proxy_pass http://{plan.pool};",
        "            proxy_http_version 1.1;",
        '            proxy_set_header Connection "";',
        "            # the client's Host, not the upstream's name: the mock servers answer loopback names only",
        "            proxy_set_header Host $http_host;",
        "            # streamed answers (SSE) pass through as they come",
        "            proxy_buffering off;",
        "        }",
        "    }",
    ]
    return lines


def _listen(plan: BalancerPlan, listen: str) -> list[str]:
    """One listening socket per worker (``reuseport``) when there are several: the kernel then hands each
    new connection to a worker by a hash of its addresses, independently of the one before, as the
    simulator draws a request's worker. On one shared socket Linux wakes the worker that registered it
    first (EPOLLEXCLUSIVE) and nginx re-registers every 16 connections: runs of up to 16 on one worker."""
    if plan.workers == 1:
        return [f"        listen {listen};"]
    return [
        "        # router.instances: a socket per worker, each connection to a worker by the kernel's hash",
        f"        listen {listen} reuseport;",
    ]


def _next_upstream(plan: BalancerPlan) -> list[str]:
    words = " ".join(next_upstream(plan.retries))
    if plan.retries is None:
        return [
            "        # router.retries: null -> no second server (nginx's default would try the next one on errors);",
            "        # errors and timeouts still count as failures against max_fails",
            f"        proxy_next_upstream {words};",
            "        proxy_next_upstream_tries 1;",
        ]
    return [
        f"        # router.retries: up to {plan.retries.max} more servers; POST is not idempotent, so say so",
        f"        proxy_next_upstream {words} non_idempotent;",
        f"        proxy_next_upstream_tries {plan.retries.max + 1};",
    ]
