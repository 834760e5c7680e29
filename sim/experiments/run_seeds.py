"""``orchsim run`` over one or more seeds: the scenario and its baseline as separate tasks, in parallel.

The first seed's run folder is ``DIR/`` (its baseline ``DIR/baseline/``), as a one-seed run writes
it; every further seed has ``DIR/seed-N/``. When the scenario quotes a ``reference:`` account, each
incident-day ``summary.json`` gains a ``reference`` key: the reported figures beside the simulated
ones over all the seeds run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sim.analysis.summary import ReferenceComparison, Summary
from sim.experiments.executors import run_tasks
from sim.experiments.reference import compare_to_reference
from sim.experiments.run_folder import simulate_into
from sim.output.outputs import write_json
from sim.scenario import Scenario

__all__ = ["SeedRuns", "run_seeds", "seed_folder"]


@dataclass
class SeedRuns:
    """Summaries of every seed run (incident and, if any, baseline), and the reference comparison."""

    seeds: list[int]
    folders: list[Path]
    incident: list[Summary] = field(default_factory=list)
    baseline: list[Summary] = field(default_factory=list)
    reference: ReferenceComparison | None = None


def seed_folder(root: Path, seeds: list[int], seed: int) -> Path:
    """Where one seed's run goes: the root for the first seed, ``seed-N/`` for the others."""
    return root if seed == seeds[0] else root / f"seed-{seed}"


def _simulate(folder: Path, scenario: Scenario, seed: int, plots: bool) -> Summary:
    return simulate_into(folder, scenario, seed, plots)


def run_seeds(
    root: Path,
    scenario: Scenario,
    baseline: Scenario | None,
    seeds: list[int],
    plots: bool,
    jobs: int = 2,
    done: Callable[[int, int], None] | None = None,
    tz: str | None = None,
    simulated: Callable[[float, float], None] | None = None,
) -> SeedRuns:
    """Simulate every seed of the scenario and its baseline in ``jobs`` processes; write every folder.

    ``done(finished, total)`` follows the runs; a lone run (one seed, no baseline) runs here and
    reports its simulated time to ``simulated(now_s, end_s)`` instead.
    """
    folders = [seed_folder(root, seeds, s) for s in seeds]
    tasks: list[tuple[Any, ...]] = [(f, scenario, s, plots) for f, s in zip(folders, seeds, strict=True)]
    if baseline is not None:
        tasks += [(f / "baseline", baseline, s, plots) for f, s in zip(folders, seeds, strict=True)]
    results: list[Summary | None] = [None] * len(tasks)
    if len(tasks) == 1:
        results[0] = simulate_into(folders[0], scenario, seeds[0], plots, simulated)
    outcomes = run_tasks(_simulate, tasks, jobs) if len(tasks) > 1 else iter(())
    for count, (index, summary, error) in enumerate(outcomes, start=1):
        if error is not None:
            raise error
        results[index] = summary
        if done is not None:
            done(count, len(tasks))
    summaries = [s for s in results if s is not None]
    runs = SeedRuns(seeds, folders, summaries[: len(seeds)], summaries[len(seeds) :])
    if plots:
        from sim.output.plots_incident import INCIDENT_FILE, plot_incident, read_series  # deferred: matplotlib

        for folder, summary in zip(folders, runs.incident, strict=True):
            day = read_series(folder / "timeseries.csv")
            base = read_series(folder / "baseline" / "timeseries.csv") if baseline is not None else None
            plot_incident(folder / INCIDENT_FILE, scenario, day, base, summary)
    if scenario.reference is not None:
        runs.reference = compare_to_reference(scenario, runs.incident, runs.baseline, tz)
        runs.incident = [replace(summary, reference=runs.reference) for summary in runs.incident]
        for folder, summary in zip(folders, runs.incident, strict=True):
            write_json(folder / "summary.json", summary.to_dict())
    return runs
