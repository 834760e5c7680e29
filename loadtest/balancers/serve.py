"""``orchsim serve --router haproxy|nginx``: the mock backends behind a real balancer until Ctrl-C or SIGTERM."""

from __future__ import annotations

import sys
from pathlib import Path

from loadtest.balancers.binary import BalancerMissingError, find_binary
from loadtest.balancers.mapping import plan_balancer
from loadtest.balancers.routers import check_routers
from loadtest.balancers.topology import BalancedTopology
from loadtest.mock.topology import TopologyError
from sim.output.outputs import new_run_dir, now_stamp
from sim.scenario import Scenario
from sim.scenario.loading import ScenarioError, load_scenario

__all__ = ["balanced_topology", "serve_balanced"]


def balanced_topology(
    path: Path,
    scenario: Scenario,
    implementation: str,
    port: int,
    time_scale: float,
    folder: Path,
    overrides: list[str],
    max_body_bytes: int = 1_000_000,
) -> BalancedTopology:
    """A topology not yet started; ScenarioError naming each field the balancer cannot express,
    BalancerMissingError when its binary is not installed."""
    find_binary(implementation)
    try:
        plan = plan_balancer(scenario, implementation, time_scale, max_body_bytes)
    except ValueError as exc:
        raise ScenarioError([f"{path.name}: {line}" for line in str(exc).splitlines()]) from None
    return BalancedTopology(plan, path, scenario, port, folder, overrides)


def serve_balanced(
    path: Path, implementation: str, time_scale: float, port: int, overrides: list[str], max_body: int
) -> int:
    """Run until stopped; 2 for a missing binary, a field that cannot be mapped or a port in use."""
    scenario = load_scenario(path, overrides)
    try:
        check_routers(path, scenario, [implementation])  # the balancer's refusals and its mock backends'
        topology = balanced_topology(path, scenario, implementation, port, time_scale, Path(), overrides, max_body)
    except BalancerMissingError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    folder = topology.folder = new_run_dir(Path("runs"), f"serve-{scenario.name}-{implementation}", now_stamp)
    try:
        topology.start()
    except TopologyError as exc:
        print(f"orchsim serve: {exc}", file=sys.stderr)
        return 2
    print(f"orchsim serve: {scenario.name} behind {implementation} {topology.version} on {topology.url}")
    print(f"  config and log in {folder}/; faults and the probe clock: POST {topology.admin_url}/admin/...; ready")
    sys.stdout.flush()
    return topology.serve_forever()
