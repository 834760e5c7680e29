"""Both sides of a validation read by the same metrics code, compared, and written out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from loadtest.measured import measured_result, measured_ttft_s, simulated_ttft_s, with_network_delay
from loadtest.records import Record, column
from loadtest.verdict import Row, Tolerances, build_rows
from sim.engine import SimResult, simulate
from sim.metrics import stats, summarize, timeseries
from sim.outputs import write_csv, write_json
from sim.scenario import Scenario

__all__ = ["Side", "Validation", "compare_sides", "write_validation"]


@dataclass
class Side:
    """One side: its result in the simulator's shape, its summary and time series."""

    result: SimResult
    summary: dict[str, Any]
    series: dict[str, np.ndarray]


@dataclass
class Validation:
    """Everything ``orchsim validate`` reports."""

    simulated: Side
    measured: Side
    rows: list[Row]
    overhead_s: float  # real seconds
    time_scale: float
    dispatch_lag_s: dict[str, float | None]  # real seconds

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)


def _side(result: SimResult, ttft: dict[str, float | None] | None) -> Side:
    series = timeseries(result)
    summary = summarize(result, series)
    if ttft is not None:
        summary["ttft_s"] = ttft
    return Side(result, summary, series)


def compare_sides(
    scenario: Scenario,
    seed: int,
    records: list[Record],
    overhead_s: float,
    time_scale: float,
    tolerances: Tolerances,
    stream_tokens: int | None,
) -> Validation:
    """Simulate ``scenario`` for ``seed``, add the measured overhead as a network delay, compare.

    ``stream_tokens`` is the tokens per streamed answer (None when answers were not streamed).
    """
    delay_s = overhead_s * time_scale
    simulated = with_network_delay(simulate(scenario, seed), delay_s)
    sim_ttft = None if stream_tokens is None else simulated_ttft_s(simulated, stream_tokens, delay_s)
    sim_side = _side(simulated, sim_ttft)
    real = measured_result(scenario, seed, records, time_scale)
    real_side = _side(real, None if stream_tokens is None else measured_ttft_s(scenario, records, time_scale))
    lag = column(records, "send_s") - column(records, "intended_s")
    rows = build_rows(sim_side.summary, real_side.summary, tolerances)
    return Validation(sim_side, real_side, rows, overhead_s, time_scale, stats(lag[~np.isnan(lag)]))


def write_validation(out: Path, validation: Validation) -> None:
    """``validation.json``, both summaries, time series and the simulated records (measured ones
    are already there: ``measured_requests.csv``, real seconds, one row per attempt)."""
    delay = validation.overhead_s * validation.time_scale
    write_json(
        out / "validation.json",
        {
            "rows": [row.as_json() for row in validation.rows],
            "pass": validation.passed,
            "time_scale": validation.time_scale,
            "http_overhead": {
                "real_s": validation.overhead_s,
                "simulated_s": delay,
                "note": "added to every simulated answer as a network delay",
            },
            "dispatch_lag_real_s": validation.dispatch_lag_s,
        },
    )
    for name, side in (("simulated", validation.simulated), ("measured", validation.measured)):
        write_json(out / f"summary.{name}.json", side.summary)
        write_csv(out / f"timeseries.{name}.csv", side.series)
    sim = validation.simulated.result
    write_csv(
        out / "simulated_requests.csv",
        {
            "req": np.arange(sim.arrival_s.size),
            "arrival_s": sim.arrival_s,
            "klass": sim.klass,
            "code": sim.req_code,
            "end_s": sim.req_end_s,
            "attempts": sim.req_attempts,
        },
    )
    write_csv(out / "simulated_attempts.csv", sim.attempts)
