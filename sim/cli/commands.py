"""What each CLI verb does, given parsed arguments. Printing and files happen here, not in the engine."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.analysis.metric_registry import check_metric
from sim.cli import ui
from sim.cli.interrupts import exit_code, signal_name
from sim.experiments.capacity import RULE, Evaluation, judge, parse_range, parse_target, search
from sim.experiments.compare import CRN_NOTE, parse_mitigations, parse_variants, run_comparison, variant_scenarios
from sim.experiments.cost import estimate, plan_refusal, refusal
from sim.experiments.executors import ExecutorError, run_tasks
from sim.experiments.phase import (
    PhaseSpec,
    cell_scenarios,
    parse_durations,
    parse_list,
    parse_trigger,
    run_phase,
    write_phase,
)
from sim.experiments.run_seeds import run_seeds, seed_folder
from sim.experiments.sweep import (
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
from sim.inputs.units import format_duration, parse_duration_s
from sim.output.compare_output import DROP_ORDER, comparison_table, write_comparison
from sim.output.out_folder import building, claim, set_aside, stamp_run
from sim.output.outputs import new_run_dir, now_stamp, write_json
from sim.output.reference_output import narrative_table, reference_table
from sim.output.report import ReportError, write_report
from sim.output.sweep_output import aggregate, sweep_table, write_sweep
from sim.output.tables import capacity_table, phase_table, side_by_side, summary_clock, summary_table, timeline_table
from sim.scenario import Scenario, json_schema
from sim.scenario.loading import ScenarioError, load_baseline, load_scenario
from sim.scenario.paths import flagship_scenario, resolve_scenario
from sim.strategies import STRATEGIES

__all__ = [
    "CapacityOptions",
    "capacity",
    "check",
    "compare",
    "phase",
    "report",
    "run",
    "strategies",
    "sweep",
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


def run(
    scenario_path: str | None,
    seed: int | None,
    overrides: list[str],
    out_dir: str | None,
    plots: bool,
    baseline: bool = True,
    overwrite: bool = False,
    seeds: int = 1,
    jobs: int = 2,
) -> int:
    """``orchsim run``: simulate ``seeds`` seeds (and the scenario's baseline, if it has one), print, write."""
    path = Path(scenario_path) if scenario_path else flagship_scenario()
    scenario = load_scenario(path, overrides)
    first = scenario.seed if seed is None else seed
    folder = claim(out_dir, "run", lambda: new_run_dir(Path("runs"), scenario.name, now_stamp), overwrite)
    base = load_baseline(path, overrides, scenario) if baseline else None
    seed_list = list(range(first, first + seeds))
    lone = seeds == 1 and base is None  # one run: progress in simulated time, as it goes
    with ui.progress(f"simulating {scenario.name}", 1.0 if lone else seeds * (2 if base else 1), lone) as update:

        def simulated(now_s: float, end_s: float) -> None:
            update(now_s / end_s, f"{now_s / 3600:.2f} h of {end_s / 3600:.2f} h simulated")

        with building(folder, "run") as work:
            runs = run_seeds(
                work, scenario, base, seed_list, plots, jobs, lambda n, _: update(n, ""), ui.mode().tz, simulated
            )
    summary = runs.incident[0]
    clock = summary_clock(summary, ui.mode().tz)
    if runs.reference is not None:
        ui.show(reference_table(runs.reference))
        ui.show(narrative_table(runs.reference))
    if base is None:
        ui.show(summary_table(summary, clock))
        further_seeds = [s.to_dict() for s in runs.incident[1:]]
        ui.emit({**summary.to_dict(), "further_seeds": further_seeds} if seeds > 1 else summary.to_dict())
    else:
        ui.show(side_by_side(summary, runs.baseline[0], clock))
        further = [
            {**s.to_dict(), "baseline": b.to_dict()} for s, b in zip(runs.incident[1:], runs.baseline[1:], strict=True)
        ]
        day = {**summary.to_dict(), "baseline": runs.baseline[0].to_dict()}
        ui.emit({**day, **({"further_seeds": further} if further else {})})
    timeline = timeline_table(summary, clock)
    if timeline is not None and runs.reference is None:  # the account's timeline above says the same
        ui.show(timeline)
    shown = ", ".join(str(seed_folder(folder, seed_list, s)) for s in seed_list[1:])
    ui.note(f"outputs written to {folder}/" + (f" (further seeds: {shown})" if shown else ""))
    return 0


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
    overwrite: bool = False,
    force: bool = False,
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
    _estimate_or_refuse([(f"row {name}", s) for name, s in scenarios.items()], seeds, Path(scenario_path), force)
    folder = claim(out_dir, "compare", lambda: new_run_dir(Path("runs"), f"compare-{first.name}", now_stamp), overwrite)
    seed_list = [first.seed + k for k in range(seeds)]
    ui.note(f"{len(scenarios)} rows x {seeds} seeds on {jobs} process(es)")
    with ui.progress("simulating", len(scenarios) * seeds) as update:
        comparison = run_comparison(scenarios, seed_list, jobs, rank_by, lambda n, _: update(n, ""))
    with building(folder, "compare") as work:
        document = write_comparison(work, comparison, first.name, plots)
    ui.emit(document)
    ui.show_table(comparison_table(comparison, first.name), drop=DROP_ORDER)
    ui.show(f"({CRN_NOTE})")
    ui.note(f"outputs written to {folder}/")
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
    overwrite: bool = False,
    force: bool = False,
) -> int:
    """``orchsim sweep``: every grid point x seed, each result saved as it completes; rerun to resume."""
    try:
        grid = parse_grid(grid_texts)
    except ValueError as exc:
        print(f"orchsim sweep: {exc}", file=sys.stderr)
        return 2
    path = Path(scenario_path)
    scenarios = point_scenarios(path, overrides, grid)
    labels = [f"point {', '.join(f'{p}={v}' for p, v in point.items())}" for point in grid.points()]
    _estimate_or_refuse(list(zip(labels, scenarios, strict=True)), seeds, path, force)
    seed_list = [scenarios[0].seed + k for k in range(seeds)]
    folder = Path(out_dir) if out_dir else Path("runs") / f"sweep-{scenarios[0].name}"
    try:
        claim(str(folder), "sweep", lambda: folder, overwrite)
        if overwrite:
            set_aside(folder)
        prepare_folder(folder, manifest(path, overrides, grid, seed_list))
        state = _run_sweep_with_bar(folder, grid, scenarios, seed_list, jobs, executor)
    except (ValueError, ExecutorError) as exc:
        print(f"orchsim sweep: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        _finish_sweep(folder, grid, seed_list, plots=False)
        print(
            f"orchsim sweep: stopped by {signal_name(exc)}; finished runs are saved in {folder}/points/. "
            "Resume with the same command.",
            file=sys.stderr,
        )
        return exit_code(exc)
    points = _finish_sweep(folder, grid, seed_list, plots)
    for line in state.errors:
        print(f"orchsim sweep: failed run {line}", file=sys.stderr)
    counts = {"total": state.total, "skipped": state.skipped, "new": state.done - state.skipped, "failed": state.failed}
    ui.emit({"folder": str(folder), "params": grid.params, "seeds": seed_list, "runs": counts, "points": points})
    ui.note(f"{state.total} runs: {state.skipped} already done, {counts['new']} new, {state.failed} failed")
    ui.note(f"outputs written to {folder}/")
    return 1 if state.failed else 0


def _run_sweep_with_bar(
    folder: Path, grid: Grid, scenarios: list[Scenario], seeds: list[int], jobs: int, executor: str | None
) -> SweepRun:
    with ui.progress("sweep", len(grid.points()) * len(seeds), detail=True) as bar:

        def update(state: SweepRun) -> None:
            bar(state.done + state.failed, f"{state.done + state.failed} runs, {state.failed} failed")

        return run_sweep(folder, grid, scenarios, seeds, jobs, executor, update)


def _finish_sweep(folder: Path, grid: Grid, seeds: list[int], plots: bool) -> list[dict[str, Any]]:
    records = load_results(folder, grid, seeds)
    write_sweep(folder, grid, records, plots)
    stamp_run(folder, "sweep")
    points = aggregate(grid, records)
    ui.show(sweep_table(grid, points))
    return points


def capacity(
    scenario_path: str,
    param: str,
    target_text: str,
    range_text: str | None,
    options: CapacityOptions,
    overrides: list[str],
    out_dir: str | None,
    overwrite: bool = False,
    force: bool = False,
) -> int:
    """``orchsim capacity``: smallest (or largest) value of ``param`` meeting the target."""
    path = Path(scenario_path)
    base = load_scenario(path, overrides)
    folder = claim(
        out_dir, "capacity", lambda: new_run_dir(Path("runs"), f"capacity-{base.name}", now_stamp), overwrite
    )
    current = field_value(base, param)
    load_scenario(path, [*overrides, f"{param}={1 if current is None else current}"])  # names a bad --param
    integer = isinstance(current, int) and not isinstance(current, bool)
    try:
        clauses = parse_target(target_text)
        bounds = parse_range(range_text, integer) if range_text else None
        if bounds is None and not isinstance(current, (int, float)):
            raise ValueError(f"--range: {param} has no numeric value in the scenario ({current!r}); give LO:HI")
        seeds = [base.seed + k for k in range(options.seeds)]

        def at(value: float) -> Scenario:  # the scenario at one value, refused over the cost limits
            shown = f"{param}={int(value) if integer else value!r}"
            scenario = load_scenario(path, [*overrides, shown])
            refused = [] if force else refusal(scenario, f"{path.name}: --param {shown}")
            if refused:
                raise ScenarioError([*refused[:-1], f"{refused[-1]}, or --range LO:HI to search elsewhere"])
            return scenario

        start = float(current or 0)
        for value in bounds or (start if start > 0 else 1.0,):  # searched first (as search starts): before any run
            ui.note(f"estimate per run at {param}={value:g}: {estimate(at(value)).line()}")

        def evaluate(value: float) -> Evaluation:
            scenario = at(value)
            tasks = [(scenario, s) for s in seeds]
            outcomes = sorted(run_tasks(run_point, tasks, options.jobs, options.executor), key=lambda o: o[0])
            failed = [error for _, _, error in outcomes if error is not None]
            if failed:
                raise RuntimeError(f"{param}={value:g}: a run failed: {failed[0]}") from failed[0]
            met, figures = judge(clauses, [summary for _, summary, _ in outcomes])
            return Evaluation(value, met, figures)

        answer, evaluations = search(evaluate, start, bounds, integer, options.maximize, options.tolerance)
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
    with building(folder, "capacity") as work:
        write_json(work / "capacity.json", document)
    ui.emit(document)
    ui.show(capacity_table(param, clauses, evaluations))
    shown = "none in the range searched" if answer is None else f"{int(answer) if integer else answer:g}"
    word = "largest" if options.maximize else "smallest"
    ui.show(f"{word} {param} meeting {target} over {len(seeds)} seeds: {shown} ({len(evaluations)} evaluations)")
    ui.show(f"rule: {RULE}")
    ui.note(f"outputs written to {folder}/")
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
    overwrite: bool = False,
    force: bool = False,
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
    scenarios = cell_scenarios(path, overrides, spec)
    labels = [f"cell {m:g} x {format_duration(d)}" for m, d in spec.points()]
    _estimate_or_refuse(list(zip(labels, scenarios, strict=True)), seeds, path, force)
    folder = claim(out_dir, "phase", lambda: new_run_dir(Path("runs"), f"phase-{base.name}", now_stamp), overwrite)
    seed_list = [base.seed + k for k in range(seeds)]
    with ui.progress("phase diagram", len(spec.magnitudes) * len(spec.durations_s) * seeds) as update:
        cells = run_phase(scenarios, spec, seed_list, jobs, lambda n, _: update(n, ""))
    with building(folder, "phase") as work:
        document = write_phase(work, spec, seed_list, cells)
    ui.emit(document)
    ui.show(phase_table(spec, cells))
    ui.note(f"outputs written to {folder}/")
    return 0


def _estimate_or_refuse(runs: list[tuple[str, Scenario]], seeds: int, path: Path, force: bool) -> None:
    """Print the estimate of every run of a compare, sweep or phase; refuse it (exit 2) over the limits."""
    line, refused = plan_refusal(runs, seeds, path.name)
    if refused and not force:
        raise ScenarioError(refused)
    ui.note(f"estimate: {line}")


def check(files: list[str], schema: bool, overrides: list[str], schema_file: str | None = None) -> int:
    """``orchsim check``: validate scenario files; ``--schema`` prints the JSON Schema, ``--write-schema`` saves it."""
    if schema_file:
        write_json(Path(schema_file), json_schema())
        ui.emit({"schema": schema_file})
        ui.note(f"JSON Schema written to {schema_file}")
        if not schema and not files:
            return 0
    if schema:
        document = json_schema()
        ui.emit(document)
        ui.show(json.dumps(document, indent=2))
        return 0
    if not files:
        print("orchsim check: give one or more scenario files, or --schema", file=sys.stderr)
        return 2
    results = [_check_one(name, overrides) for name in files]
    ui.emit(results)
    return 0 if all(r["ok"] for r in results) else 2


def _check_one(name: str, overrides: list[str]) -> dict[str, Any]:
    """``{file, ok, problems}`` for one scenario; problems on stderr, the verdict on stdout."""
    try:
        path = resolve_scenario(name)
        scenario = load_scenario(path, overrides)
    except ScenarioError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return {"file": name, "ok": False, "problems": exc.lines}
    servers = sum(c.servers for c in scenario.clusters)
    start = scenario.clock(ui.mode().tz).at(0)
    ui.show(
        f"{name}: ok ({len(scenario.clusters)} clusters, {servers} servers, strategy {scenario.router.strategy}, "
        f"{len(scenario.faults)} faults; starts {start:%Y-%m-%d} {scenario.clock(ui.mode().tz).hm(0)})"
    )
    cost = estimate(scenario)
    ui.show(f"{name}: estimate per run: {cost.line()}")
    for line in refusal(scenario, name)[:-1]:
        ui.show(f"{line} (orchsim run refuses it without --force)")
    return {"file": name, "ok": True, "problems": [], "estimate": cost.line()}


def strategies() -> int:
    """``orchsim strategies``: one line per registered strategy."""
    width = max(len(name) for name in STRATEGIES)
    for name in sorted(STRATEGIES):
        ui.show(f"{name:<{width}}  {STRATEGIES[name].description}")
    ui.emit([{"name": name, "description": STRATEGIES[name].description} for name in sorted(STRATEGIES)])
    return 0


def report(folder: str) -> int:
    """``orchsim report``: one self-contained HTML file from an output folder."""
    try:
        path, left_out = write_report(Path(folder), ui.mode().tz)
    except ReportError as exc:
        print(f"orchsim report: {exc}", file=sys.stderr)
        return 2
    if left_out:
        print(f"orchsim report: left out {', '.join(left_out)}: not written by the run in run.json", file=sys.stderr)
    ui.emit({"report": str(path)})
    ui.note(f"report written to {path}")
    return 0
