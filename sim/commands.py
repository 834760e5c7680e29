"""What each CLI verb does, given parsed arguments. Printing and files happen here, not in the engine."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from sim.capacity import RULE, Evaluation, judge, parse_range, parse_target, search
from sim.compare import CRN_NOTE, check_metric, parse_mitigations, parse_variants, run_comparison, variant_scenarios
from sim.compare_output import comparison_table, write_comparison
from sim.executors import ExecutorError, run_tasks
from sim.loading import ScenarioError, load_baseline, load_scenario
from sim.outputs import new_run_dir, write_json
from sim.paths import flagship_scenario
from sim.phase import PhaseSpec, parse_durations, parse_list, parse_trigger, run_phase, write_phase
from sim.report import ReportError, write_report
from sim.run_folder import simulate_into
from sim.scenario import Scenario, json_schema
from sim.strategies import STRATEGIES
from sim.sweep import (
    Grid,
    SweepRun,
    load_results,
    manifest,
    parse_grid,
    point_scenarios,
    prepare_folder,
    run_point,
    run_sweep,
)
from sim.sweep_output import aggregate, sweep_table, write_sweep
from sim.tables import capacity_table, phase_table, side_by_side, summary_table
from sim.units import parse_duration_s

__all__ = [
    "CapacityOptions",
    "capacity",
    "check",
    "compare",
    "phase",
    "report",
    "run",
    "serve",
    "strategies",
    "sweep",
    "validate",
]


@dataclass(frozen=True)
class CapacityOptions:
    """How ``orchsim capacity`` searches and runs."""

    seeds: int
    jobs: int
    executor: str | None
    maximize: bool
    tolerance: float


def field_value(scenario: Scenario, path: str) -> Any:
    """The value at a dotted ``--set`` path of ``scenario`` (None where it is unset or absent)."""
    node: Any = scenario.model_dump(mode="json")
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return node


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


def run(
    scenario_path: str | None,
    seed: int | None,
    overrides: list[str],
    out_dir: str | None,
    plots: bool,
    baseline: bool = True,
) -> int:
    """``orchsim run``: simulate once (and the scenario's baseline, if it has one), print, write."""
    path = Path(scenario_path) if scenario_path else flagship_scenario()
    scenario = load_scenario(path, overrides)
    seed = scenario.seed if seed is None else seed
    if out_dir and Path(out_dir).exists() and not Path(out_dir).is_dir():
        print(f"orchsim run: --out {out_dir} is a file, not a folder", file=sys.stderr)
        return 2
    folder = Path(out_dir) if out_dir else new_run_dir(Path("runs"), scenario.name, _stamp)
    summary = _simulate_into(folder, scenario, seed, plots, scenario.name)
    base = load_baseline(path, overrides, scenario) if baseline else None
    if base is None:
        out.print(summary_table(summary))
    else:
        out.print(side_by_side(summary, _simulate_into(folder / "baseline", base, seed, plots, "baseline")))
    out.print(f"outputs written to {folder}/")
    return 0


def _simulate_into(folder: Path, scenario: Scenario, seed: int, plots: bool, label: str) -> dict[str, Any]:
    with sim_progress(f"simulating {label}", err.is_terminal) as update:
        return simulate_into(folder, scenario, seed, plots, update)


def compare(
    scenario_path: str,
    strategies_text: str | None,
    variant_items: list[list[str]],
    seeds: int,
    jobs: int,
    rank_by: str,
    overrides: list[str],
    out_dir: str | None,
    plots: bool,
) -> int:
    """``orchsim compare``: every strategy or variant on the same workloads, N seeds, means and 95% CIs."""
    try:
        variants = parse_variants(strategies_text) if strategies_text is not None else []
        mitigations = parse_mitigations(variant_items)
        check_metric(rank_by)
    except ValueError as exc:
        print(f"orchsim compare: {exc}", file=sys.stderr)
        return 2
    scenarios = variant_scenarios(Path(scenario_path), overrides, variants, mitigations)
    first = next(iter(scenarios.values()))
    seed_list = [first.seed + k for k in range(seeds)]
    print(f"{len(scenarios)} rows x {seeds} seeds on {jobs} process(es); {CRN_NOTE}")
    with Progress(*_bar_columns(), console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("simulating", total=len(scenarios) * seeds, clock="")
        comparison = run_comparison(scenarios, seed_list, jobs, rank_by, lambda n, _: bar.update(task, completed=n))
    folder = Path(out_dir) if out_dir else new_run_dir(Path("runs"), f"compare-{first.name}", _stamp)
    write_comparison(folder, comparison, first.name, plots)
    out.print(comparison_table(comparison, first.name))
    out.print(f"outputs written to {folder}/")
    return 0


def sweep(
    scenario_path: str,
    grid_texts: list[str],
    seeds: int,
    jobs: int,
    executor: str | None,
    overrides: list[str],
    out_dir: str | None,
    plots: bool,
) -> int:
    """``orchsim sweep``: every grid point x seed, each result saved as it completes; rerun to resume."""
    try:
        grid = parse_grid(grid_texts)
    except ValueError as exc:
        print(f"orchsim sweep: {exc}", file=sys.stderr)
        return 2
    path = Path(scenario_path)
    scenarios = point_scenarios(path, overrides, grid)
    seed_list = [scenarios[0].seed + k for k in range(seeds)]
    folder = Path(out_dir) if out_dir else Path("runs") / f"sweep-{scenarios[0].name}"
    try:
        prepare_folder(folder, manifest(path, overrides, grid, seed_list))
        state = _run_sweep_with_bar(folder, grid, scenarios, seed_list, jobs, executor)
    except (ValueError, ExecutorError) as exc:
        print(f"orchsim sweep: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _finish_sweep(folder, grid, seed_list, plots=False)
        print(
            f"orchsim sweep: interrupted; finished runs are saved in {folder}/points/. Resume with the same command.",
            file=sys.stderr,
        )
        return 130
    _finish_sweep(folder, grid, seed_list, plots)
    for line in state.errors:
        print(f"orchsim sweep: failed run {line}", file=sys.stderr)
    print(f"{state.total} runs: {state.skipped} already done, {state.done - state.skipped} new, {state.failed} failed")
    print(f"outputs written to {folder}/")
    return 1 if state.failed else 0


def _run_sweep_with_bar(
    folder: Path, grid: Grid, scenarios: list[Scenario], seeds: list[int], jobs: int, executor: str | None
) -> SweepRun:
    columns = (*_bar_columns(), TextColumn("{task.fields[failed]} failed"))
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("sweep", total=len(grid.points()) * len(seeds), failed=0)

        def update(state: SweepRun) -> None:
            bar.update(task, completed=state.done + state.failed, failed=state.failed)

        return run_sweep(folder, grid, scenarios, seeds, jobs, executor, update)


def _finish_sweep(folder: Path, grid: Grid, seeds: list[int], plots: bool) -> None:
    records = load_results(folder, grid, seeds)
    write_sweep(folder, grid, records, plots)
    out.print(sweep_table(grid, aggregate(grid, records)))


def capacity(
    scenario_path: str,
    param: str,
    target_text: str,
    range_text: str | None,
    options: CapacityOptions,
    overrides: list[str],
    out_dir: str | None,
) -> int:
    """``orchsim capacity``: smallest (or largest) value of ``param`` meeting the target."""
    path = Path(scenario_path)
    base = load_scenario(path, overrides)
    current = field_value(base, param)
    load_scenario(path, [*overrides, f"{param}={1 if current is None else current}"])  # names a bad --param
    integer = isinstance(current, int) and not isinstance(current, bool)
    try:
        clauses = parse_target(target_text)
        bounds = parse_range(range_text, integer) if range_text else None
        if bounds is None and not isinstance(current, (int, float)):
            raise ValueError(f"--range: {param} has no numeric value in the scenario ({current!r}); give LO:HI")
        seeds = [base.seed + k for k in range(options.seeds)]

        def evaluate(value: float) -> Evaluation:
            scenario = load_scenario(path, [*overrides, f"{param}={int(value) if integer else value!r}"])
            tasks = [(scenario, s) for s in seeds]
            outcomes = sorted(run_tasks(run_point, tasks, options.jobs, options.executor), key=lambda o: o[0])
            failed = [error for _, _, error in outcomes if error is not None]
            if failed:
                raise RuntimeError(f"{param}={value:g}: a run failed: {failed[0]}") from failed[0]
            met, figures = judge(clauses, [summary for _, summary, _ in outcomes])
            return Evaluation(value, met, figures)

        answer, evaluations = search(
            evaluate, float(current or 0), bounds, integer, options.maximize, options.tolerance
        )
    except (ValueError, ExecutorError) as exc:
        print(f"orchsim capacity: {exc}", file=sys.stderr)
        return 2
    target = " and ".join(str(c) for c in clauses)
    document = {
        "param": param,
        "value": answer,
        "target": target,
        "met": answer is not None,
        "rule": RULE,
        "maximize": options.maximize,
        "seeds": seeds,
        "evaluations": [e.as_dict() for e in evaluations],
    }
    folder = Path(out_dir) if out_dir else new_run_dir(Path("runs"), f"capacity-{base.name}", _stamp)
    write_json(folder / "capacity.json", document)
    out.print(capacity_table(param, clauses, evaluations))
    shown = "none in the range searched" if answer is None else f"{int(answer) if integer else answer:g}"
    word = "largest" if options.maximize else "smallest"
    print(f"{word} {param} meeting {target} over {len(seeds)} seeds: {shown} ({len(evaluations)} evaluations)")
    print(f"rule: {RULE}")
    print(f"outputs written to {folder}/")
    return 0


def phase(
    scenario_path: str,
    trigger: str,
    magnitudes: str,
    durations: str,
    at: str,
    seeds: int,
    jobs: int,
    overrides: list[str],
    out_dir: str | None,
) -> int:
    """``orchsim phase``: which trigger sizes and durations leave the system metastable."""
    try:
        kind, target = parse_trigger(trigger)
        spec = PhaseSpec(
            kind, target, parse_duration_s(at), parse_list(magnitudes, "magnitudes", float), parse_durations(durations)
        )
    except ValueError as exc:
        print(f"orchsim phase: {exc}", file=sys.stderr)
        return 2
    path = Path(scenario_path)
    base = load_scenario(path, overrides)
    seed_list = [base.seed + k for k in range(seeds)]
    with Progress(*_bar_columns(), console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("phase diagram", total=len(spec.magnitudes) * len(spec.durations_s) * seeds, clock="")
        cells = run_phase(path, overrides, spec, seed_list, jobs, lambda n, _: bar.update(task, completed=n))
    folder = Path(out_dir) if out_dir else new_run_dir(Path("runs"), f"phase-{base.name}", _stamp)
    write_phase(folder, spec, seed_list, cells)
    out.print(phase_table(spec, cells))
    print(f"outputs written to {folder}/")
    return 0


def serve(
    scenario_path: str | None,
    time_scale: float,
    port: int,
    overrides: list[str],
    max_body: int,
    rate_limit: str | None = None,
) -> int:
    """``orchsim serve``: run the mock topology on 127.0.0.1 until Ctrl-C or SIGTERM."""
    from loadtest.mock.ratelimit import parse_rate_limit  # deferred: aiohttp only when serving
    from loadtest.mock.topology import Topology, TopologyError

    path = Path(scenario_path) if scenario_path else flagship_scenario()
    scenario = load_scenario(path, overrides)
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
    print(
        f"orchsim serve: {scenario.name} on {topology.url} "
        "(POST /v1/chat/completions, /v1/completions; GET /v1/models, /ready, /metrics)"
    )
    print(
        f"  {len(scenario.clusters)} backend processes, {servers} servers; time scale {time_scale:g}: "
        f"1 simulated second = {1 / time_scale:g} s, base rate {rate:g} requests/s real time; ready"
    )
    sys.stdout.flush()
    return topology.serve_forever()


def validate(args: Any) -> int:
    """``orchsim validate``: mock + locust + simulation of one scenario, side by side."""
    from loadtest.validate import command  # deferred: locust and aiohttp only when validating

    return command(args, out.print, _stamp)


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


def report(folder: str) -> int:
    """``orchsim report``: one self-contained HTML file from an output folder."""
    try:
        path = write_report(Path(folder))
    except ReportError as exc:
        print(f"orchsim report: {exc}", file=sys.stderr)
        return 2
    print(f"report written to {path}")
    return 0
