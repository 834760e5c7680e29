"""What each CLI verb does, given parsed arguments. Printing and files happen here, not in the engine."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from sim.compare import CRN_NOTE, check_metric, parse_variants, run_comparison, variant_scenarios
from sim.compare_output import comparison_table, write_comparison
from sim.engine import Simulation
from sim.loading import ScenarioError, load_scenario
from sim.metrics import summarize, timeseries
from sim.outputs import new_run_dir, write_csv, write_json, write_resolved
from sim.paths import flagship_scenario
from sim.plots import plot_run
from sim.scenario import Scenario, json_schema
from sim.strategies import STRATEGIES
from sim.tables import summary_table

__all__ = ["check", "compare", "run", "strategies"]

out = Console(width=None if sys.stdout.isatty() else 160)  # logs and pipes get whole tables
err = Console(stderr=True)


@contextmanager
def sim_progress(label: str, enabled: bool) -> Iterator[Any]:
    """A progress bar over simulated time (shown on a terminal only)."""
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[clock]}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True, disable=not enabled) as bar:
        task = bar.add_task(label, total=1.0, clock="")

        def update(now_s: float, end_s: float) -> None:
            bar.update(task, completed=now_s / end_s, clock=f"{now_s / 3600:.2f} h of {end_s / 3600:.2f} h simulated")

        yield update


def run(scenario_path: str | None, seed: int | None, overrides: list[str], out_dir: str | None, plots: bool) -> int:
    """``orchsim run``: simulate once, print the summary, write the output folder."""
    path = Path(scenario_path) if scenario_path else flagship_scenario()
    scenario = load_scenario(path, overrides)
    seed = scenario.seed if seed is None else seed
    with sim_progress(f"simulating {scenario.name}", err.is_terminal) as update:
        result = Simulation(scenario, seed).run(update)
    series = timeseries(result)
    summary = summarize(result, series)
    folder = Path(out_dir) if out_dir else new_run_dir(Path("runs"), scenario.name, _stamp)
    write_outputs(folder, scenario, seed, summary, series, plots)
    out.print(summary_table(summary))
    out.print(f"outputs written to {folder}/")
    return 0


def write_outputs(
    folder: Path, scenario: Scenario, seed: int, summary: dict[str, Any], series: dict[str, Any], plots: bool
) -> None:
    """The contract's run folder: summary.json, timeseries.csv, scenario.resolved.yaml, plots."""
    folder.mkdir(parents=True, exist_ok=True)
    write_resolved(folder / "scenario.resolved.yaml", scenario, seed)
    write_csv(folder / "timeseries.csv", series)
    if plots:
        plot_run(folder, scenario, series)
    write_json(folder / "summary.json", summary)


def compare(
    scenario_path: str,
    strategies_text: str,
    seeds: int,
    jobs: int,
    rank_by: str,
    overrides: list[str],
    out_dir: str | None,
    plots: bool,
) -> int:
    """``orchsim compare``: every strategy on the same workloads, N seeds, means and 95% CIs."""
    try:
        variants = parse_variants(strategies_text)
        check_metric(rank_by)
    except ValueError as exc:
        print(f"orchsim compare: {exc}", file=sys.stderr)
        return 2
    scenarios = variant_scenarios(Path(scenario_path), overrides, variants)
    first = next(iter(scenarios.values()))
    seed_list = [first.seed + k for k in range(seeds)]
    print(f"{len(variants)} strategies x {seeds} seeds on {jobs} process(es); {CRN_NOTE}")
    with Progress(*_bar_columns(), console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("simulating", total=len(variants) * seeds, clock="")
        comparison = run_comparison(scenarios, seed_list, jobs, rank_by, lambda n, _: bar.update(task, completed=n))
    folder = Path(out_dir) if out_dir else new_run_dir(Path("runs"), f"compare-{first.name}", _stamp)
    write_comparison(folder, comparison, first.name, plots)
    out.print(comparison_table(comparison, first.name))
    out.print(f"outputs written to {folder}/")
    return 0


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def _bar_columns() -> tuple[Any, ...]:
    return (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )


def check(files: list[str], schema: bool, overrides: list[str]) -> int:
    """``orchsim check``: validate scenario files; ``--schema`` prints the JSON Schema."""
    if schema:
        print(json.dumps(json_schema(), indent=2))
        return 0
    if not files:
        print("orchsim check: give one or more scenario files, or --schema", file=sys.stderr)
        return 2
    failed = False
    for name in files:
        try:
            scenario = load_scenario(name, overrides)
        except ScenarioError as exc:
            failed = True
            for line in exc.lines:
                print(line, file=sys.stderr)
            continue
        servers = sum(c.servers for c in scenario.clusters)
        print(
            f"{name}: ok ({len(scenario.clusters)} clusters, {servers} servers, "
            f"strategy {scenario.router.strategy}, {len(scenario.faults)} faults)"
        )
    return 2 if failed else 0


def strategies() -> int:
    """``orchsim strategies``: one line per registered strategy."""
    width = max(len(name) for name in STRATEGIES)
    for name in sorted(STRATEGIES):
        print(f"{name:<{width}}  {STRATEGIES[name].description}")
    return 0
