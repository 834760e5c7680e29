"""The delays each simulated request gets in orchsim validate: its own measured attempt's way in (a later
arrival at the backend) and way out (added to its answer), and a wrong model still fails."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from loadtest.comparison import compare_sides, in_trace_order, late_trace
from loadtest.overhead import HttpOverhead
from loadtest.path_delay import Delays
from loadtest.records import Record
from loadtest.validate import SHARED_WORK, fine_windows
from loadtest.verdict import Tolerances
from sim.engine.model import Simulation
from sim.experiments.simulate import simulate_and_summarise
from sim.scenario import Scenario
from sim.scenario.loading import load_scenario
from sim.scenario.paths import scenarios_dir
from sim.workload.trace import generate_trace

NAN = math.nan


def _record(
    req: int, send_s: float, lag_s: float, first_s: float, end_s: float, status: int = 200, **more: float
) -> Record:
    timed = status == 200 and not more.pop("untimed", False)
    return Record(
        req=req,
        attempt=int(more.pop("attempt", 1)),
        klass=0,
        scheduled_s=send_s - lag_s,
        intended_s=send_s - lag_s,
        send_s=send_s,
        first_token_s=first_s,
        end_s=end_s,
        status=status,
        tokens=8,
        server_wait_s=0.010 if timed else NAN,
        server_service_s=0.080 if timed else NAN,
        server_arrived_s=more.pop("arrived_s", NAN),
    )


PROBES = HttpOverhead(answer_s=0.002, first_token_s=0.0025, samples=20)


def test_each_measured_attempt_splits_into_its_way_in_and_its_way_out() -> None:
    # wait 10 ms, service 80 ms (the first of 8 tokens 10 ms in): the rest is the apparatus's
    records = [
        # due 0.999, sent 1.0, at the backend 1.006: 7 ms in; answered 4 ms after its service ended
        _record(
            0, send_s=1.0, lag_s=0.001, first_s=1.006 + 0.020 + 0.003, end_s=1.006 + 0.090 + 0.004, arrived_s=1.006
        ),
        # no arrival reported: all of it counts on the way out
        _record(1, send_s=2.0, lag_s=0.020, first_s=2.0 + 0.020 + 0.030, end_s=2.0 + 0.090 + 0.050),
        _record(2, send_s=3.0, lag_s=0.0, first_s=NAN, end_s=3.001, status=503),  # not served
        _record(3, send_s=4.0, lag_s=0.0, first_s=4.05, end_s=4.2, untimed=True),  # no backend timing
    ]
    delays = Delays.of_run(records, PROBES, time_scale=10.0, stream_tokens=8)
    assert delays.measured and delays.req.tolist() == [0, 1]
    assert np.allclose(delays.inbound_s, [10 * 0.007, 0.0])
    assert np.allclose(delays.answer_s, [10 * 0.004, 10 * (0.020 + 0.050)])
    assert np.allclose(delays.first_token_s, [10 * 0.003, 10 * (0.020 + 0.030)])
    # requests 0 and 1 take their own; 2 and 3 (no usable attempt) the one due nearest in time (1's)
    arrival_s = np.array([9.99, 19.8, 30.0, 40.0])
    assert np.allclose(delays.arrival_shift_s(arrival_s), [0.07, 0.0, 0.0, 0.0])
    answer, first = delays.paired(np.ones(4, dtype=np.int64), arrival_s)
    assert np.allclose(answer, [0.04, 0.7, 0.7, 0.7]) and np.allclose(first, [0.03, 0.5, 0.5, 0.5])
    # a request answered at its third attempt waited for the two failed attempts' answers first, and each
    # retry went the whole way in and out (the first attempt's way in is its later arrival)
    thrice, first_thrice = delays.paired(np.array([3]), arrival_s[:1])
    assert thrice[0] == pytest.approx(0.04 + 2 * (0.07 + 0.04)) and first_thrice[0] == pytest.approx(0.15 + 0.1)


def test_a_retried_attempt_takes_its_own_measured_delays() -> None:
    records = [
        _record(0, send_s=1.0, lag_s=0.0, first_s=NAN, end_s=1.01, status=503),
        _record(0, send_s=2.0, lag_s=0.0, first_s=2.05, end_s=2.2, attempt=2, arrived_s=2.03),
        _record(1, send_s=9.0, lag_s=0.0, first_s=9.05, end_s=9.2, arrived_s=9.001),
    ]
    delays = Delays.of_run(records, PROBES, time_scale=10.0, stream_tokens=8)
    answer, _ = delays.paired(np.array([2, 1]), np.array([10.0, 90.0]))
    # request 0's first attempt failed: the nearest in time gives it (request 0's second), then its own second
    way_out = 10 * (2.2 - 2.03 - 0.09)  # 0.8: its way in, 0.3, is the first attempt's later arrival
    assert answer[0] == pytest.approx(way_out + (0.3 + way_out))
    assert answer[1] == pytest.approx(10 * (0.2 - 0.001 - 0.09))


def test_without_the_backends_timing_the_low_load_probes_are_used() -> None:
    records = [_record(0, send_s=1.0, lag_s=0.0, first_s=1.05, end_s=1.1, untimed=True)]
    delays = Delays.of_run(records, PROBES, time_scale=10.0, stream_tokens=8)
    assert not delays.measured
    assert np.array_equal(delays.arrival_shift_s(np.ones(3)), np.zeros(3))
    answer, first = delays.paired(np.ones(3, dtype=np.int64), np.ones(3))
    assert np.allclose(answer, 0.02) and np.allclose(first, 0.025)
    assert delays.as_json(10.0)["answer_real_s"] is None


def _apparatus_s(arrival_s: np.ndarray, base_s: float, burst_s: float) -> np.ndarray:
    """A busy machine's lateness (simulated s): ``base_s``, 0.6 s in the run's first 3 s real (processes
    starting), and bursts of up to ``burst_s`` while another process takes the cores (every 60 s, for 10 s)."""
    burst = np.where(arrival_s % 60.0 < 10.0, burst_s * (0.33 + 0.67 * ((arrival_s * 7.3) % 1.0)), 0.0)
    return base_s + burst + np.where(arrival_s < 30.0, 0.6, 0.0)


def _steady(*overrides: str) -> Scenario:
    return fine_windows(load_scenario(scenarios_dir() / "validate-steady.yaml", [SHARED_WORK, *overrides]))


def _measured_on_a_busy_machine(burst_s: float = 0.6) -> list[Record]:
    """validate-steady as the mock serves it, measured through an apparatus late on the way in (the
    backend's schedule shifts) and on the way out: the records of a run at time scale 10."""
    scenario = _steady()
    trace = generate_trace(scenario, 11)
    way_in, way_out = _apparatus_s(trace.arrival_s, 0.03, burst_s), _apparatus_s(trace.arrival_s + 5.0, 0.02, burst_s)
    late, order = late_trace(trace, way_in)
    run = in_trace_order(Simulation(scenario, 11, late).run(), order, trace.arrival_s)
    att = run.attempts
    records = []
    for i in range(att["req"].size):
        req = int(att["req"][i])
        sent, start, end = att["sent_s"][i], att["start_s"][i], att["end_s"][i]
        due = run.arrival_s[req]
        first = start + (end - start) / 8 + way_out[req]
        records.append(
            Record(
                req, int(att["number"][i]), 0, due / 10, due / 10, due / 10, first / 10, (end + way_out[req]) / 10,
                int(att["code"][i]), 8, (start - sent) / 10, (end - start) / 10, sent / 10,
            )
        )  # fmt: skip
    return records


def test_a_busy_apparatus_is_accounted_for_and_a_wrong_model_still_fails() -> None:
    """The apparatus's lateness (a 0.6 s start-up, bursts, 0.02-0.03 s always) moves the measured tails by
    far more than 10%; with each simulated request given its own measured way in and out, the right model
    passes every row on the tolerances alone, and a model 20% off on service fails the latency rows."""
    records = _measured_on_a_busy_machine()
    right = compare_sides(_steady(), 11, records, PROBES, 10.0, Tolerances(), 8, noise_seeds=2)
    assert right.passed and not any(row.within_noise_only for row in right.rows)
    delays = right.delays
    assert np.percentile(delays.inbound_s + delays.answer_s, 99) > 0.6  # the start-up is in the run
    bare = simulate_and_summarise(_steady(), 11).summary.latency_s  # the model with no apparatus at all
    measured = right.measured.summary.latency_s
    assert measured.p99 is not None and bare.p99 is not None and measured.p99 > 1.1 * bare.p99
    slow = _steady("clusters.0.service.mean=1.2s")  # the model says 20% slower service than the backend gives
    wrong = compare_sides(slow, 11, records, PROBES, 10.0, Tolerances(), 8, noise_seeds=2)
    failed = {row.metric for row in wrong.rows if not row.passed}
    assert {"latency_s.mean", "latency_s.p50", "latency_s.p95", "latency_s.p99"} <= failed
    assert not wrong.passed


def test_an_apparatus_late_by_more_than_a_service_time_makes_the_run_inconclusive() -> None:
    """validate-steady's mean service is 1 s: an apparatus late by more than that at p99 (0.1 s real) keeps
    slots busy in the mock's and a router's view that the model has freed; the start-up (in the warm-up)
    does not count."""
    records = _measured_on_a_busy_machine(burst_s=0.3)  # up to 0.35 s in and out: p99 under 1 s
    right = compare_sides(_steady(), 11, records, PROBES, 10.0, Tolerances(), 8, noise_seeds=0)
    assert right.verdict == "pass" and right.apparatus.bound_s == pytest.approx(1.0)
    assert right.apparatus.lateness_p99_s is not None and 0.3 < right.apparatus.lateness_p99_s < 1.0
    starved = [dataclasses.replace(r, end_s=r.end_s + 0.2) if 10.0 < r.scheduled_s < 13.0 else r for r in records]
    late = compare_sides(_steady(), 11, starved, PROBES, 10.0, Tolerances(), 8, noise_seeds=0)
    assert late.apparatus.starved and late.verdict == "inconclusive"
    assert late.passed  # every row still compares (the lateness is paired): the run is set aside, not failed
    assert late.apparatus.as_json(10.0)["starved"] is True
    allowed = compare_sides(_steady(), 11, starved, PROBES, 10.0, Tolerances(apparatus=3.0), 8, noise_seeds=0)
    assert allowed.apparatus.bound_s == pytest.approx(3.0) and allowed.verdict == "pass"
