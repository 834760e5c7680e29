"""The output folder of one run: simulate, summarise, write the contract's files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sim.analysis.summary import Summary
from sim.experiments.simulate import simulate_and_summarise
from sim.experiments.testhook import hold
from sim.output.outputs import write_csv, write_json, write_resolved
from sim.scenario import Scenario

__all__ = ["simulate_into", "write_outputs"]


def simulate_into(
    folder: Path, scenario: Scenario, seed: int, plots: bool, progress: Callable[[float, float], None] | None = None
) -> Summary:
    """Simulate ``scenario`` with ``seed``, write its run folder, return its summary."""
    run = simulate_and_summarise(scenario, seed, progress=progress, monitoring=True)  # the report draws the states
    write_outputs(folder, scenario, seed, run.summary, run.series, plots)
    return run.summary


def write_outputs(
    folder: Path, scenario: Scenario, seed: int, summary: Summary, series: dict[str, Any], plots: bool
) -> None:
    """The contract's run folder: scenario.resolved.yaml, timeseries.csv, summary.json, then the plots."""
    folder.mkdir(parents=True, exist_ok=True)
    write_resolved(folder / "scenario.resolved.yaml", scenario, seed)
    write_csv(folder / "timeseries.csv", {"time": scenario.clock().iso_column(series["start_s"]), **series})
    hold("run files being written")
    write_json(folder / "summary.json", summary.to_dict())
    if plots:  # last: a plot that fails costs no data
        from sim.output.plots import plot_run, try_plots  # deferred: matplotlib costs ~1 s and ~30 MB in every worker

        try_plots("run", lambda: plot_run(folder, scenario, series, summary))
