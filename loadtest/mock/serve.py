"""``orchsim serve`` behind orchsim's own router: the mock topology on 127.0.0.1 until stopped."""

from __future__ import annotations

import sys
from pathlib import Path

from loadtest.balancers.mapping import MOCK
from loadtest.balancers.routers import check_routers
from loadtest.mock.ratelimit import parse_rate_limit
from loadtest.mock.topology import Topology, TopologyError
from sim.cli import ui
from sim.scenario.loading import load_scenario

__all__ = ["serve"]


def serve(
    path: Path,
    time_scale: float,
    port: int,
    overrides: list[str],
    max_body: int,
    rate_limit: str | None = None,
) -> int:
    """``orchsim serve``: run the mock topology on 127.0.0.1 until Ctrl-C or SIGTERM."""
    scenario = load_scenario(path, overrides)
    check_routers(path, scenario, [MOCK])  # a field the mock does not play: refused before any process
    router_args = []
    if rate_limit is not None:
        try:
            parse_rate_limit(rate_limit)
        except ValueError as exc:
            print(f"orchsim serve: {exc}", file=sys.stderr)
            return 2
        router_args = ["--rate-limit", rate_limit]
    topology = Topology(path, scenario, port, time_scale, overrides, max_body, router_args)
    try:
        topology.start()
    except TopologyError as exc:
        print(f"orchsim serve: {exc}", file=sys.stderr)
        return 2
    rate = scenario.workload.base_rps * time_scale
    servers = sum(c.servers for c in scenario.clusters)
    ui.emit(
        {
            "scenario": scenario.name,
            "url": topology.url,
            "backends": len(scenario.clusters),
            "servers": servers,
            "time_scale": time_scale,
            "rate_rps": rate,
            "ready": True,
        },
        now=True,
    )
    ui.note(
        f"orchsim serve: {scenario.name} on {topology.url} "
        "(POST /v1/chat/completions, /v1/completions; GET /v1/models, /ready, /metrics)"
    )
    ui.note(
        f"  {len(scenario.clusters)} backend processes, {servers} servers; time scale {time_scale:g}: "
        f"1 simulated second = {1 / time_scale:g} s, base rate {rate:g} requests/s real time; ready"
    )
    sys.stdout.flush()
    return topology.serve_forever()
