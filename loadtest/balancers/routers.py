"""``orchsim validate --router A,B,...``: check every implementation first, then one table, a column each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table

from loadtest.balancers.binary import find_binary
from loadtest.balancers.mapping import MOCK, backend_refusals, refusals
from sim.scenario import Scenario
from sim.scenario.loading import ScenarioError

__all__ = ["check_routers", "routers_table"]


def check_routers(path: Path, scenario: Scenario, routers: list[str]) -> None:
    """Before any process starts: BalancerMissingError for a binary not installed, ScenarioError naming
    each field a balancer cannot express (faults included, though the load generator plays them) or
    the mock service (``builtin``) does not play."""
    problems = []
    for router in routers:
        if router == MOCK:
            problems += [f"{path.name}: {line}" for line in refusals(scenario, MOCK)]
            continue
        find_binary(router)
        problems += [f"{path.name}: {line} ({router})" for line in refusals(scenario, router)]
        problems += [f"{path.name}: {line} (behind {router})" for line in backend_refusals(scenario)]
    if problems:
        raise ScenarioError(problems)


def routers_table(out: Path, routers: list[str], title: str) -> Table:
    """Simulated and measured per implementation, side by side, from each one's validation.json."""
    documents = {router: json.loads((out / router / "validation.json").read_text()) for router in routers}
    table = Table(title=f"{title}: simulated vs measured behind each router")
    table.add_column("metric")
    for router in routers:
        version = documents[router].get("router", {}).get("version", "")
        for part in ("simulated", "measured", "pass"):
            table.add_column(f"{router} {version}\n{part}" if part == "simulated" else part, justify="right")
    metrics = [row["metric"] for row in documents[routers[0]]["rows"]]
    for metric in metrics:
        cells = [metric]
        for router in routers:
            row = _row(documents[router], metric)
            cells += [_number(row.get("simulated")), _number(row.get("measured")), _verdict(row.get("pass"))]
        table.add_row(*cells)
    table.add_row("all rows", *[c for r in routers for c in ("", "", _verdict(documents[r].get("pass")))])
    return table


def _row(document: dict[str, Any], metric: str) -> dict[str, Any]:
    return next((row for row in document.get("rows", []) if row.get("metric") == metric), {})


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"


def _verdict(value: Any) -> str:
    return "[green]pass[/]" if value is True else "[red]FAIL[/]" if value is False else "-"
