"""``orchsim calibrate``: fit a step-model profile per deployment, confirm it with the run engine.

Each measured point is replayed as the benchmark ran it: ``concurrency`` users start together and
each sends ``rounds`` requests of the point's shape back to back; the mean TTFT and TPOT of
``orchsim run``'s engine (``summary.json``'s ``ttft_s.mean`` and ``tpot_s.mean``) are the simulated
figures. Nothing here prints: the command layer writes tables and files.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.experiments.calibration.model import NAMES, Fit, fit_points, lengths, predict
from sim.experiments.calibration.points import Point
from sim.experiments.simulate import simulate_and_summarise
from sim.scenario import Scenario
from sim.scenario.gpu_profiles import GPU_PROFILES
from sim.scenario.loading import parse_scenario

__all__ = [
    "DEFAULT_ROUNDS",
    "Outcome",
    "calibrate_points",
    "fit_confirmed",
    "point_scenario",
    "point_scenario_data",
    "simulate_point",
    "summary_of",
]

DEFAULT_ROUNDS = 10  # requests per user: InferenceX and vLLM-bench sweeps send num_prompts = 10 x concurrency


@dataclass(frozen=True)
class Outcome:
    """One point: measured, simulated by the engine, and the relative errors."""

    point: Point
    ttft_s_sim: float
    tpot_s_sim: float

    def errors(self) -> tuple[float, float]:
        """Relative errors (simulated / measured - 1) of TTFT and TPOT (NaN when not measured)."""
        ttft, tpot = self.point.ttft_s, self.point.tpot_s
        return (
            math.nan if ttft is None else self.ttft_s_sim / ttft - 1.0,
            math.nan if tpot is None else self.tpot_s_sim / tpot - 1.0,
        )


def point_scenario(service: dict[str, Any], point: Point, rounds: int = DEFAULT_ROUNDS, seed: int = 1) -> Scenario:
    """The closed-loop scenario that replays ``point`` on one server with the profile ``service``."""
    return parse_scenario(point_scenario_data(service, point, rounds, seed), f"calibrate-{point.config}.yaml")


def point_scenario_data(
    service: dict[str, Any], point: Point, rounds: int = DEFAULT_ROUNDS, seed: int = 1
) -> dict[str, Any]:
    """``point_scenario`` as a scenario file's contents (what ``orchsim run`` reads)."""
    costs = {**GPU_PROFILES.get(str(service.get("profile")), {}), **service}  # a shipped profile's costs
    fit = Fit(tuple(float(costs.get(n, 0.0)) for n in NAMES), int(costs.get("max_num_batched_tokens", 8192)))
    ttft, tpot = predict(fit.costs, fit.budget, [point], rounds)
    cycle_s = float(ttft[0] + (point.output_tokens - 1) * tpot[0])
    duration_s = math.ceil(4.0 * rounds * cycle_s + 60.0)  # ample: the run stops when every user is done
    data = {
        "name": f"calibrate-{point.config}",
        "duration": duration_s,
        "warmup": 0,
        "drain": 0,
        "window": duration_s,
        "seed": seed,
        "workload": {
            "users": point.concurrency,
            "requests_per_user": rounds,
            "prompt_tokens": _spread(point.input_tokens),
            "output_tokens": _spread(point.output_tokens),
        },
        "clusters": [{"name": "gpu", "servers": 1, "slots": point.concurrency, "service": service}],
    }
    return data


def _spread(tokens: int) -> dict[str, Any]:
    """Nominal ``tokens`` as the benchmark draws them (``sim.experiments.calibration.model.lengths``): uniform whole
    numbers from 0.8 x nominal to nominal (different lengths are also what keeps the users from staying
    in lockstep after their first request)."""
    low, high = lengths(tokens)
    return {"kind": "uniform", "min": low, "max": high}


def summary_of(scenario: Scenario) -> tuple[float, float]:
    """Mean TTFT and TPOT of one run of ``scenario`` (the figures of its summary.json)."""
    summary = simulate_and_summarise(scenario, shown=False).summary
    ttft, tpot = summary.ttft_s.mean, None if summary.tpot_s is None else summary.tpot_s.mean
    return (math.nan if ttft is None else float(ttft)), (math.nan if tpot is None else float(tpot))


def simulate_point(service: dict[str, Any], point: Point, rounds: int = DEFAULT_ROUNDS) -> Outcome:
    """``point`` simulated by the run engine with the profile ``service``."""
    ttft, tpot = summary_of(point_scenario(service, point, rounds))
    return Outcome(point, ttft, tpot)


REFINEMENTS = 1  # rounds of engine correction after the analytic fit


def fit_confirmed(points: Sequence[Point], rounds: int = DEFAULT_ROUNDS, refinements: int = REFINEMENTS) -> Fit:
    """The analytic fit, then corrected by the engine (space mapping): simulate every training point,
    take engine / model per point as a fixed correction of the model, and fit again from there. The
    engine is the reference; the correction removes what the mean-value model gets wrong about it
    (the first wave, queueing of prompts) near the measured points."""
    fit = fit_points(points, rounds)
    for _ in range(refinements):
        service = fit.service()
        engine = np.array([summary_of(point_scenario(service, p, rounds)) for p in points], dtype=float).T
        model = np.array(predict(fit.costs, fit.budget, points, rounds), dtype=float)
        correction = np.nan_to_num(np.clip(engine / model, 0.2, 5.0), nan=1.0)
        fit = fit_points(points, rounds, correction, start=fit)
    return fit


def calibrate_points(points: Sequence[Point], rounds: int = DEFAULT_ROUNDS) -> dict[str, dict[str, Any]]:
    """Per config: its fitted profile (``service``) and every point simulated with it (``outcomes``)."""
    by_config: dict[str, list[Point]] = defaultdict(list)
    for point in points:
        by_config[point.config].append(point)
    out = {}
    for config, mine in by_config.items():
        service = fit_confirmed(mine, rounds).service()
        out[config] = {
            "service": service,
            "max_concurrency": max(p.concurrency for p in mine),
            "outcomes": [simulate_point(service, p, rounds) for p in mine],
        }
    return out


def medians(outcomes: Sequence[Outcome]) -> dict[str, float | None]:
    """Median absolute relative error of TTFT and TPOT over ``outcomes``."""
    errors = np.array([o.errors() for o in outcomes], dtype=float).reshape(-1, 2)
    out: dict[str, float | None] = {}
    for index, name in enumerate(("ttft", "tpot")):
        known = np.abs(errors[:, index][~np.isnan(errors[:, index])])
        out[f"{name}_median_abs_error"] = float(np.median(known)) if known.size else None
    return out
