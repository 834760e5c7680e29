"""``orchsim phase``: metastability phase diagram over trigger size x trigger duration."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from sim.analysis.summary import Summary
from sim.experiments.executors import run_tasks
from sim.experiments.sweep import run_point
from sim.inputs.units import format_duration, parse_duration_s
from sim.inputs.yamlio import flow_yaml
from sim.output.outputs import write_csv, write_json
from sim.output.plots import save_figure, try_plots
from sim.scenario import Scenario
from sim.scenario.loading import load_scenario

__all__ = ["Cell", "PhaseSpec", "cell_scenarios", "parse_trigger", "run_phase", "trigger_overrides", "write_phase"]

KINDS = ("surge", "crash", "slowdown", "error_rate")


@dataclass(frozen=True)
class PhaseSpec:
    """Which trigger to vary, where and when, over which sizes and durations."""

    kind: str
    target: str | None
    at_s: float
    magnitudes: list[float]
    durations_s: list[float]

    def points(self) -> list[tuple[float, float]]:
        """Every (magnitude, duration), magnitudes outer: the order of cells and runs."""
        return [(m, d) for m in self.magnitudes for d in self.durations_s]


def parse_trigger(text: str) -> tuple[str, str | None]:
    """``surge`` or ``KIND:TARGET`` (crash, slowdown, error_rate on a cluster or CLUSTER/INDEX)."""
    kind, _, target = text.partition(":")
    if kind not in KINDS:
        raise ValueError(f"--trigger: unknown trigger {kind!r}; known: {', '.join(KINDS)}")
    if (kind == "surge") != (not target):
        raise ValueError(f"--trigger: use 'surge' or KIND:TARGET such as crash:us-east (got {text!r})")
    return kind, target or None


def parse_list(text: str, what: str, parse: Callable[[str], float]) -> list[float]:
    """Comma-separated positive values."""
    try:
        values = [parse(item.strip()) for item in text.split(",") if item.strip()]
    except ValueError as exc:
        raise ValueError(f"--{what}: {exc} (got {text!r})") from None
    if not values or min(values) <= 0:
        raise ValueError(f"--{what}: give positive values separated by commas (got {text!r})")
    return values


def trigger_overrides(spec: PhaseSpec, magnitude: float, duration_s: float) -> list[str]:
    """``--set`` lines replacing the scenario's surges and faults by one trigger."""
    if spec.kind == "surge":
        surge = {"at": spec.at_s, "duration": duration_s, "factor": magnitude}
        return [f"workload.surges={flow_yaml([surge])}", "faults=[]"]
    fault: dict[str, Any] = {"kind": spec.kind, "target": spec.target, "at": spec.at_s, "duration": duration_s}
    fault["factor" if spec.kind == "slowdown" else "fraction"] = magnitude
    return ["workload.surges=[]", f"faults={flow_yaml([fault])}"]


@dataclass
class Cell:
    """One (magnitude, duration) point over its seeds."""

    magnitude: float
    duration_s: float
    metastable: list[bool]
    recovery_s: list[float | None]

    @property
    def metastable_share(self) -> float:
        return sum(self.metastable) / len(self.metastable)


def cell_scenarios(path: Path, overrides: list[str], spec: PhaseSpec) -> list[Scenario]:
    """The scenario of every (magnitude, duration) of ``spec.points()``, validated."""
    return [load_scenario(path, [*overrides, *trigger_overrides(spec, m, d)]) for m, d in spec.points()]


def run_phase(
    scenarios: list[Scenario],
    spec: PhaseSpec,
    seeds: list[int],
    jobs: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[Cell]:
    """Every (magnitude, duration, seed) of ``cell_scenarios``, run on ``jobs`` processes."""
    points = spec.points()
    tasks = [(scenario, seed) for scenario in scenarios for seed in seeds]
    results: dict[int, Summary] = {}
    for index, summary, error in run_tasks(run_point, tasks, jobs):
        if error is not None:
            raise RuntimeError(f"a phase run failed: {type(error).__name__}: {error}") from error
        results[index] = summary
        if progress is not None:
            progress(len(results), len(tasks))
    cells = []
    for p, (magnitude, duration_s) in enumerate(points):
        summaries = [results[p * len(seeds) + k] for k in range(len(seeds))]
        triggers = [s.triggers[-1] for s in summaries]
        cells.append(
            Cell(magnitude, duration_s, [t.metastable is True for t in triggers], [t.recovery_s for t in triggers])
        )
    return cells


def write_phase(folder: Path, spec: PhaseSpec, seeds: list[int], cells: list[Cell]) -> dict[str, Any]:
    """phase.json, phase.csv and phase.png (the diagram with the 50% boundary); returns phase.json's document."""
    rows = [
        {
            "magnitude": c.magnitude,
            "duration_s": c.duration_s,
            "metastable_share": c.metastable_share,
            "recovery_s": c.recovery_s,
            "metastable": c.metastable,
        }
        for c in cells
    ]
    write_csv(
        folder / "phase.csv",
        {
            "magnitude": [c.magnitude for c in cells],
            "duration_s": [c.duration_s for c in cells],
            "metastable_share": [c.metastable_share for c in cells],
            "mean_recovery_s": [_mean([r for r in c.recovery_s if r is not None]) for c in cells],
        },
    )
    document = {"trigger": spec.kind, "target": spec.target, "at_s": spec.at_s, "seeds": seeds, "cells": rows}
    write_json(folder / "phase.json", document)
    try_plots("phase", lambda: _plot(folder / "phase.png", spec, cells))  # last: a failure costs no data
    return document


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _plot(path: Path, spec: PhaseSpec, cells: list[Cell]) -> None:
    grid = np.array(
        [
            [
                next(c.metastable_share for c in cells if c.magnitude == m and c.duration_s == d)
                for d in spec.durations_s
            ]
            for m in spec.magnitudes
        ]
    )
    fig, ax = plt.subplots(figsize=(8, 6), layout="constrained")
    image = ax.imshow(grid, origin="lower", aspect="auto", cmap="RdYlGn_r", vmin=0, vmax=1)
    if min(grid.shape) > 1 and grid.min() <= 0.5 <= grid.max() and grid.min() < grid.max():
        ax.contour(grid, levels=[0.5], colors="black", linewidths=2)
    ax.set_xticks(range(len(spec.durations_s)), [format_duration(d) for d in spec.durations_s])
    ax.set_yticks(range(len(spec.magnitudes)), [f"{m:g}" for m in spec.magnitudes])
    ax.set_xlabel("trigger duration")
    ax.set_ylabel(f"{spec.kind} magnitude" + (" (factor)" if spec.kind in ("surge", "slowdown") else " (share)"))
    ax.set_title("metastability: share of seeds that did not recover (black line: 50%)")
    fig.colorbar(image, ax=ax, label="metastable share")
    save_figure(fig, path)


def parse_durations(text: str) -> list[float]:
    """Comma-separated durations with units."""
    return parse_list(text, "durations", parse_duration_s)
