"""``orchsim export SCENARIO --router haproxy|nginx [--out FILE]``: the balancer config a scenario describes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from loadtest.balancers.configs import config_text
from loadtest.balancers.mapping import placeholder_addresses, plan_balancer
from sim.output.outputs import write_atomic
from sim.scenario.loading import ScenarioError, load_scenario

__all__ = ["export", "scenario_config"]

ADDRESS_NOTE = "# the server addresses below are placeholders (127.0.0.1:9001 and up): put your servers' here\n"


def scenario_config(path: Path, overrides: list[str], implementation: str, port: int = 8800) -> str:
    """The exported config text; ScenarioError naming the file and each field that cannot be mapped."""
    scenario = load_scenario(path, overrides)
    try:
        plan = plan_balancer(scenario, implementation)
    except ValueError as exc:
        raise ScenarioError([f"{path.name}: {line}" for line in str(exc).splitlines()]) from None
    text = config_text(plan, placeholder_addresses(plan), port, path.name, serving=False)
    first, rest = text.split("\n", 1)
    return f"{first}\n{ADDRESS_NOTE}{rest}"


def export(scenario_path: str, implementation: str, overrides: list[str], out: str | None) -> int:
    """Print the config (or write it atomically, mode 0644, to ``out``); 2 when a field cannot be mapped."""
    text = scenario_config(Path(scenario_path), overrides, implementation)
    if out is None:
        sys.stdout.write(text)
        return 0
    target = Path(out)
    if target.is_dir():
        print(f"orchsim export: --out {out} is a folder; give a file name", file=sys.stderr)
        return 2
    write_atomic(target, text)
    os.chmod(target, 0o644)
    print(f"{implementation} config written to {target}", file=sys.stderr)
    return 0
