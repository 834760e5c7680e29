"""Simulate and summarise: the one way run, compare, sweep, capacity, phase, calibrate and validate turn
a scenario and a seed into ``summary.json``'s figures and ``timeseries.csv``'s columns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.analysis.metrics import summarize, timeseries
from sim.analysis.monitoring import monitoring_columns
from sim.analysis.summary import Summary
from sim.engine import SimResult, Simulation
from sim.scenario import Scenario
from sim.workload.trace import Trace

__all__ = ["Simulated", "simulate_and_summarise", "summarise"]


@dataclass(frozen=True)
class Simulated:
    """One run: its summary, its per-window columns and its per-request records (hold on to it only
    as long as the records are needed: they take a few arrays per request)."""

    summary: Summary
    series: dict[str, np.ndarray]
    result: SimResult


def summarise(result: SimResult, *, shown: bool = True) -> tuple[Summary, dict[str, np.ndarray]]:
    """The summary and per-window columns of records already made (simulated or measured); ``shown=False``:
    only the columns the summary reads (see ``timeseries``)."""
    series = timeseries(result, shown=shown)
    return summarize(result, series), series


def simulate_and_summarise(
    scenario: Scenario,
    seed: int | None = None,
    *,
    trace: Trace | None = None,
    progress: Callable[[float, float], None] | None = None,
    adjust: Callable[[SimResult], SimResult] | None = None,
    monitoring: bool = False,
    shown: bool = True,
) -> Simulated:
    """Simulate ``scenario`` with ``seed`` (default: the scenario's own) and summarise it.

    ``trace``: arrivals made already (common random numbers); ``progress(now_s, end_s)`` follows the
    simulated time; ``adjust`` transforms the records before they are summarised (validate adds the
    network delay); ``monitoring`` adds the status pages' columns to the series (what a run folder's
    timeseries.csv shows); ``shown=False`` leaves out the series' columns that only files and plots show
    (for callers that keep the summary alone: the same summary, less work).
    """
    run_seed = scenario.seed if seed is None else seed
    result = Simulation(scenario, run_seed, trace).run(progress)
    if adjust is not None:
        result = adjust(result)
    summary, series = summarise(result, shown=shown)
    if monitoring:
        series = {**series, **monitoring_columns(scenario, run_seed, series)}
    return Simulated(summary, series, result)
