"""Both sides of a validation read by the same metrics code, compared, and written out."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from loadtest.measured import measured_result, measured_ttft_s, simulated_ttft_s, with_network_delay
from loadtest.overhead import HttpOverhead
from loadtest.path_delay import Delays
from loadtest.records import Record, column
from loadtest.verdict import Row, Tolerances, build_rows, metric_values, with_noise
from sim import __version__
from sim.analysis.metrics import stats
from sim.analysis.summary import Stats, Summary
from sim.engine import SimResult
from sim.experiments.simulate import Simulated, simulate_and_summarise, summarise
from sim.output.outputs import write_csv, write_json
from sim.scenario import Scenario
from sim.workload.trace import Trace, generate_trace

__all__ = ["Apparatus", "Side", "Validation", "compare_sides", "in_trace_order", "late_trace", "write_validation"]


@dataclass
class Side:
    """One side: its result in the simulator's shape, its summary and time series."""

    result: SimResult
    summary: Summary
    series: dict[str, np.ndarray]


@dataclass
class Validation:
    """Everything ``orchsim validate`` reports."""

    simulated: Side
    measured: Side
    rows: list[Row]
    overhead: HttpOverhead  # real seconds
    time_scale: float
    dispatch_lag_s: Stats  # real seconds
    delays: Delays  # what the run's load generator and HTTP path added, per measured attempt
    apparatus: Apparatus  # how late the measuring apparatus was, against the bound it may reach

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def verdict(self) -> str:
        """``pass``, ``fail``, or ``inconclusive`` (the apparatus was too late to measure with)."""
        if self.apparatus.starved:
            return "inconclusive"
        return "pass" if self.passed else "fail"


@dataclass(frozen=True)
class Apparatus:
    """The measuring apparatus's lateness (way in + way out of the answered attempts due in the measured
    window, simulated s) against ``bound_s``: the ``apparatus`` tolerance times the shortest mean service
    time of the scenario's clusters, or its client timeout if shorter.

    The pairing corrects latencies for any lateness, but only while the lateness changes no outcome. An
    apparatus late by a whole service time keeps slots busy on the mock, in its waiting room's count and
    in a load-aware router's view, that the model has freed (more 503s, other routing: other waits), and
    one late by a good part of the client timeout turns answers into timeouts no model sees."""

    lateness_p99_s: float | None  # None: nothing measured
    bound_s: float

    @property
    def starved(self) -> bool:
        return self.lateness_p99_s is not None and self.lateness_p99_s > self.bound_s

    @classmethod
    def of_run(cls, scenario: Scenario, delays: Delays, tolerance: float) -> Apparatus:
        inside = (delays.due_s >= scenario.warmup) & (delays.due_s < scenario.duration)
        lateness = stats((delays.inbound_s + delays.answer_s)[inside]).p99
        scales = [cluster.service.mean for cluster in scenario.clusters]
        if scenario.clients.timeout is not None:
            scales.append(scenario.clients.timeout)
        return cls(lateness, tolerance * min(scales))

    def as_json(self, time_scale: float) -> dict[str, object]:
        p99 = self.lateness_p99_s
        return {
            "lateness_p99_real_s": None if p99 is None else p99 / time_scale,
            "bound_real_s": self.bound_s / time_scale,
            "starved": self.starved,
            "note": "p99 of way in + way out of the answered attempts due in the measured window; the bound is "
            "--tolerance apparatus (default 1) x the shortest mean service time (or client timeout); beyond it "
            "the verdict is inconclusive",
        }

    def line(self, time_scale: float) -> str:
        """One line for the console."""
        p99 = self.lateness_p99_s
        if p99 is None:
            return "apparatus lateness: none measured"
        text = f"apparatus lateness p99 {1000 * p99 / time_scale:.1f} ms real"
        bound = f"bound {1000 * self.bound_s / time_scale:.0f} ms"
        return text + (f" > {bound}: load generator starved" if self.starved else f" ({bound})")


def _side(run: Simulated, ttft: Stats | None) -> Side:
    """The run as one side; ``ttft`` replaces its TTFT figures (what the mock's streaming shows)."""
    summary = run.summary if ttft is None else replace(run.summary, ttft_s=ttft)
    return Side(run.result, summary, run.series)


def compare_sides(
    scenario: Scenario,
    seed: int,
    records: list[Record],
    overhead: HttpOverhead,
    time_scale: float,
    tolerances: Tolerances,
    stream_tokens: int | None,
    noise_seeds: int = 10,
) -> Validation:
    """Simulate ``scenario`` for ``seed`` on the arrivals the backend saw, add what the load generator and
    HTTP path added to each measured attempt (``loadtest.path_delay``: each simulated request arrives as
    late as its measured one reached the backend, and its answer and first token get its measured way
    out; the low-load probes' medians when the run gave none), compare.

    ``stream_tokens`` is the tokens per streamed answer (None when answers were not streamed);
    ``noise_seeds`` more simulations of the same arrivals (service and routing drawn from the seeds
    after ``seed``) measure each row's sampling noise.
    """
    delays = Delays.of_run(records, overhead, time_scale, stream_tokens)
    trace = generate_trace(scenario, seed)  # the measured run's own arrivals: only the service varies
    sim_side = _simulated_side(scenario, seed, delays, stream_tokens, trace)
    real = measured_result(scenario, seed, records, time_scale)
    real_summary, real_series = summarise(real)
    real_ttft = None if stream_tokens is None else measured_ttft_s(scenario, records, time_scale)
    real_side = _side(Simulated(real_summary, real_series, real), real_ttft)
    lag = column(records, "send_s") - column(records, "intended_s")
    rows = build_rows(sim_side.summary, real_side.summary, tolerances)
    others = [
        _simulated_side(scenario, seed + k, delays, stream_tokens, trace).summary for k in range(1, noise_seeds + 1)
    ]
    per_seed = [metric_values(summary, tolerances) for summary in others]
    spread = {
        row.metric: [values.get(row.metric, 0.0 if row.metric.startswith("errors.") else None) for values in per_seed]
        for row in rows
    }
    rows = with_noise(rows, spread, tolerances.noise)
    apparatus = Apparatus.of_run(scenario, delays, tolerances.apparatus)
    lag_s = stats(lag[~np.isnan(lag)])
    return Validation(sim_side, real_side, rows, overhead, time_scale, lag_s, delays, apparatus)


def _simulated_side(scenario: Scenario, seed: int, delays: Delays, stream_tokens: int | None, trace: Trace) -> Side:
    """The simulation of ``trace`` with each request arriving when its measured one reached the backend,
    put back in trace order, due when scheduled, its answer and first token as late as measured."""
    late, order = late_trace(trace, delays.arrival_shift_s(trace.arrival_s))
    first_token_s: list[np.ndarray] = []  # drawn with the answers' delays, read after the summary

    def delayed(result: SimResult) -> SimResult:
        result = in_trace_order(result, order, trace.arrival_s)
        answer_s, first_s = delays.paired(result.req_attempts[: len(trace)], trace.arrival_s)
        extra = result.req_attempts.size - answer_s.size  # requests the run made itself (none here)
        first_token_s.append(np.concatenate([first_s, np.full(extra, delays.probe_first_token_s)]))
        return with_network_delay(result, np.concatenate([answer_s, np.full(extra, delays.probe_answer_s)]))

    run = simulate_and_summarise(scenario, seed, trace=late, adjust=delayed)
    ttft = None if stream_tokens is None else simulated_ttft_s(run.result, stream_tokens, first_token_s[0])
    return _side(run, ttft)


def late_trace(trace: Trace, shift_s: np.ndarray) -> tuple[Trace, np.ndarray]:
    """``trace`` with each request ``shift_s`` later, sorted again (the engine takes arrivals in order),
    and ``order``: the trace index of each request of the new one."""
    arrival_s = trace.arrival_s + shift_s
    order = np.argsort(arrival_s, kind="stable")
    per_request = {
        name: getattr(trace, name)[order]
        for name in ("klass", "session", "prompt_tokens", "output_tokens", "service_u")
        if getattr(trace, name) is not None
    }
    return dataclasses.replace(trace, arrival_s=arrival_s[order], **per_request), order


def in_trace_order(result: SimResult, order: np.ndarray, arrival_s: np.ndarray) -> SimResult:
    """``result`` of a ``late_trace`` with its requests back in trace order, each due at ``arrival_s`` (its
    latency counts from then, as the measured side's); requests the run added stay after them."""
    count = result.arrival_s.size
    position = np.concatenate([order, np.arange(order.size, count)])  # trace index of each result request
    back = np.empty(count, dtype=np.int64)
    back[position] = np.arange(count)
    due_s = result.arrival_s.copy()
    due_s[: order.size] = arrival_s[order]
    origin = np.where(result.req_origin >= 0, position[np.maximum(result.req_origin, 0)], -1)
    attempts = {**result.attempts, "req": position[result.attempts["req"]]}
    return dataclasses.replace(
        result,
        arrival_s=due_s[back],
        klass=result.klass[back],
        req_code=result.req_code[back],
        req_end_s=result.req_end_s[back],
        req_attempts=result.req_attempts[back],
        req_origin=origin[back],
        prompt_tokens=result.prompt_tokens[back],
        output_tokens=result.output_tokens[back],
        attempts=attempts,
    )


def write_validation(out: Path, validation: Validation, router: dict[str, str] | None = None) -> None:
    """``validation.json``, both summaries, time series and the simulated records (measured ones
    are already there: ``measured_requests.csv``, real seconds, one row per attempt)."""
    overhead = validation.overhead
    delays = validation.delays
    answer_s, first_s = delays.probe_answer_s, delays.probe_first_token_s
    write_json(
        out / "validation.json",
        {
            "rows": [row.as_json() for row in validation.rows],
            "pass": validation.passed,
            "verdict": validation.verdict,
            "apparatus": validation.apparatus.as_json(validation.time_scale),
            "router": router or {"implementation": "builtin", "version": __version__},
            "time_scale": validation.time_scale,
            "http_overhead": {
                "real_s": overhead.answer_s,
                "simulated_s": answer_s,
                "first_token_real_s": overhead.first_token_s,
                "first_token_simulated_s": first_s if overhead.first_token_s is not None else None,
                "samples": overhead.samples,
                "note": "medians of sequential requests at low load, sent as the run sends them; added to the "
                "simulated answers (and first tokens) only when the run's attempts did not report the "
                "backend's timing (path_delay)",
            },
            "path_delay": {
                **delays.as_json(validation.time_scale),
                "note": "per measured successful attempt, outside the backend's own wait and service: the way in "
                "(dispatch lag + path to the backend's queue, X-Orchsim-Arrived-S) and the way out; each simulated "
                "request arrives as late as its measured one reached the backend and its answer gets that "
                "attempt's way out (a retry both); an attempt with none measured takes the one due nearest in "
                "time (loadtest.path_delay)",
            },
            "dispatch_lag_real_s": validation.dispatch_lag_s.to_dict(),
            "noise_note": "simulated is the mean over simulated_runs runs of the measured arrivals (the run's seed, "
            "simulated_seed, and the noise seeds after it); a row also passes within noise_band: --tolerance noise "
            "(default 2) standard deviations of one run's difference from that mean (within_noise_only marks those)",
        },
    )
    for name, side in (("simulated", validation.simulated), ("measured", validation.measured)):
        write_json(out / f"summary.{name}.json", side.summary.to_dict())
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
