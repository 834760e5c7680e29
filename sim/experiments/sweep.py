"""``orchsim sweep``: a grid of scenario variants x seeds, resumable, on local cores or Dask."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sim.analysis.summary import Summary, SummaryError
from sim.experiments.executors import run_tasks
from sim.experiments.simulate import simulate_and_summarise
from sim.experiments.testhook import hold
from sim.inputs.yamlio import flow_yaml, load_yaml
from sim.output.outputs import write_json
from sim.scenario import Scenario
from sim.scenario.loading import ScenarioError, load_scenario

__all__ = ["Grid", "SweepRecord", "SweepRun", "load_results", "parse_grid", "point_scenarios", "run_point", "run_sweep"]

Point = dict[str, Any]


@dataclass(frozen=True)
class Grid:
    """Parameter paths and the values each takes; the points are their Cartesian product."""

    params: list[str]
    values: list[list[Any]]

    def points(self) -> list[Point]:
        """Every combination, first parameter varying slowest."""
        return [dict(zip(self.params, combo, strict=True)) for combo in itertools.product(*self.values)]


def parse_grid(texts: list[str]) -> Grid:
    """``PATH=V1,V2,...`` or ``PATH=LO:HI:STEP`` (inclusive range) for each ``--grid``."""
    if not texts:
        raise ValueError("--grid: give at least one PATH=V1,V2,... or PATH=LO:HI:STEP")
    params, values = [], []
    for text in texts:
        path, sep, spec = text.partition("=")
        if not sep or not path.strip() or not spec.strip():
            raise ValueError(f"--grid: expected PATH=V1,V2,... or PATH=LO:HI:STEP (got {text!r})")
        if path.strip() in params:
            raise ValueError(f"--grid: {path.strip()} is given twice")
        params.append(path.strip())
        values.append(
            _range(text, spec) if spec.count(":") == 2 else [_scalar(v) for v in spec.split(",") if v.strip()]
        )
        if len({json.dumps(v, sort_keys=True, default=str) for v in values[-1]}) != len(values[-1]):
            raise ValueError(f"--grid: a value is listed twice in {text!r}")
    return Grid(params, values)


def _scalar(text: str) -> Any:
    try:
        return load_yaml(text.strip())
    except yaml.YAMLError:
        return text.strip()


def _range(text: str, spec: str) -> list[Any]:
    parts = [_scalar(p) for p in spec.split(":")]
    if not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in parts):
        raise ValueError(f"--grid: a range needs numbers LO:HI:STEP (got {text!r})")
    low, high, step = parts
    if not all(math.isfinite(p) for p in parts):
        raise ValueError(f"--grid: a range needs finite numbers (got {text!r})")
    if step <= 0 or high < low:
        raise ValueError(f"--grid: empty range in {text!r} (need STEP > 0 and HI >= LO)")
    count = math.floor((high - low) / step + 1e-9) + 1
    integral = all(isinstance(p, int) for p in parts)
    return [low + i * step if integral else round(low + i * step, 12) for i in range(count)]


def point_scenarios(path: Path, overrides: list[str], grid: Grid) -> list[Scenario]:
    """Validate every point before anything runs; ScenarioError names each bad point."""
    scenarios, problems = [], []
    for point in grid.points():
        sets = [*overrides, *(f"{p}={flow_yaml(v)}" for p, v in point.items())]
        try:
            scenarios.append(load_scenario(path, sets))
        except ScenarioError as exc:
            shown = ", ".join(f"{p}={v}" for p, v in point.items())
            problems += [f"{line} [at point {shown}]" for line in exc.lines]
    if problems:
        raise ScenarioError(problems)
    return scenarios


def run_point(scenario: Scenario, seed: int) -> Summary:
    """Simulate one point for one seed; return its summary (runs on any worker)."""
    return simulate_and_summarise(scenario, seed, shown=False).summary


@dataclass(frozen=True)
class SweepRecord:
    """One finished (point, seed): saved as ``points/KEY.json`` so that a sweep resumes where it stopped."""

    point: Point
    seed: int
    summary: Summary

    def to_dict(self) -> dict[str, Any]:
        """The saved file's document: ``{"point", "seed", "summary"}`` (summary as summary.json holds it)."""
        return {"point": self.point, "seed": self.seed, "summary": self.summary.to_dict()}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> SweepRecord:
        """A saved record read back; SummaryError names the file and the key that is wrong."""
        if not isinstance(data, dict) or list(data) != ["point", "seed", "summary"]:
            raise SummaryError(f"{where}: expected an object with keys point, seed, summary")
        return cls(data["point"], data["seed"], Summary.from_dict(data["summary"], f"{where}: summary"))


def task_key(point: Point, seed: int) -> str:
    """Stable name of one (point, seed) result file."""
    text = json.dumps({"point": point, "seed": seed}, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


@dataclass
class SweepRun:
    """Progress of one sweep: runs done (loaded or new), failures, totals."""

    total: int
    done: int = 0
    failed: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


def manifest(path: Path, overrides: list[str], grid: Grid, seeds: list[int]) -> dict[str, Any]:
    """What identifies a sweep: scenario text, overrides, grid and seeds."""
    digest = hashlib.sha1(path.read_bytes()).hexdigest()
    return {
        "scenario": path.name,
        "scenario_sha1": digest,
        "overrides": overrides,
        "grid": grid.params,
        "values": grid.values,
        "seeds": seeds,
    }


def prepare_folder(folder: Path, identity: dict[str, Any]) -> None:
    """Create the folder, or check that it holds this same sweep (then it is resumed)."""
    saved = folder / "sweep.json"
    if saved.exists():
        if json.loads(saved.read_text()) != json.loads(json.dumps(identity)):
            raise ValueError(f"--out: {folder} holds a different sweep; give another --out folder")
        return
    (folder / "points").mkdir(parents=True, exist_ok=True)
    write_json(saved, identity)


def run_sweep(
    folder: Path,
    grid: Grid,
    scenarios: list[Scenario],
    seeds: list[int],
    jobs: int,
    executor: str | None,
    progress: Callable[[SweepRun], None] | None = None,
) -> SweepRun:
    """Run every (point, seed) whose result file is missing; write each result as it finishes."""
    points = grid.points()
    todo = [(i, seed) for i in range(len(points)) for seed in seeds]
    state = SweepRun(total=len(todo))
    pending = [(i, s) for i, s in todo if not (folder / "points" / f"{task_key(points[i], s)}.json").exists()]
    state.skipped = state.done = len(todo) - len(pending)
    if progress is not None:
        progress(state)
    tasks = [(scenarios[i], seed) for i, seed in pending]
    for index, summary, error in run_tasks(run_point, tasks, jobs, executor):
        point_index, seed = pending[index]
        if error is not None:
            state.failed += 1
            state.errors.append(f"{points[point_index]} seed {seed}: {type(error).__name__}: {error}")
        else:
            record = SweepRecord(points[point_index], seed, summary)
            write_json(folder / "points" / f"{task_key(points[point_index], seed)}.json", record.to_dict())
            state.done += 1
            hold("sweep result saved")
        if progress is not None:
            progress(state)
    return state


def load_results(folder: Path, grid: Grid, seeds: list[int]) -> list[SweepRecord]:
    """Finished (point, seed) records in grid order, then seed order; SummaryError names a file that
    does not hold one."""
    rows = []
    for point in grid.points():
        for seed in seeds:
            file = folder / "points" / f"{task_key(point, seed)}.json"
            if file.exists():
                try:
                    data = json.loads(file.read_text())
                except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise SummaryError(f"{file}: cannot read it ({exc})") from None
                rows.append(SweepRecord.from_dict(data, str(file)))
    return rows
