"""The delay each simulated request gets in orchsim validate: one measured attempt's lag and round trip."""

from __future__ import annotations

import math

import numpy as np

from loadtest.overhead import HttpOverhead
from loadtest.path_delay import Delays
from loadtest.records import Record


def _record(send_s: float, lag_s: float, first_s: float, end_s: float, status: int = 200, timed: bool = True) -> Record:
    nan = math.nan
    return Record(
        req=0,
        attempt=1,
        klass=0,
        scheduled_s=send_s - lag_s,
        intended_s=send_s - lag_s,
        send_s=send_s,
        first_token_s=first_s,
        end_s=end_s,
        status=status,
        tokens=8,
        server_wait_s=0.010 if timed else nan,
        server_service_s=0.080 if timed else nan,
    )


PROBES = HttpOverhead(answer_s=0.002, first_token_s=0.0025, samples=20)


def test_each_measured_attempt_gives_its_lag_and_round_trip_outside_the_backend() -> None:
    # wait 10 ms, service 80 ms (the first of 8 tokens 10 ms in): the rest is lag + path
    records = [
        _record(send_s=1.0, lag_s=0.001, first_s=1.0 + 0.010 + 0.010 + 0.003, end_s=1.0 + 0.090 + 0.004),
        _record(send_s=2.0, lag_s=0.020, first_s=2.0 + 0.020 + 0.030, end_s=2.0 + 0.090 + 0.050),
        _record(send_s=3.0, lag_s=0.0, first_s=math.nan, end_s=3.001, status=503, timed=False),  # not served
        _record(send_s=4.0, lag_s=0.0, first_s=4.05, end_s=4.2, timed=False),  # no backend timing
    ]
    delays = Delays.of_run(records, PROBES, time_scale=10.0, stream_tokens=8)
    assert delays.measured
    assert np.allclose(delays.answer_s, [10 * (0.001 + 0.004), 10 * (0.020 + 0.050)])
    assert np.allclose(delays.first_token_s, [10 * (0.001 + 0.003), 10 * (0.020 + 0.030)])
    once = np.ones(1000, dtype=np.int64)
    answer, first = delays.draw(once, seed=3)
    again = delays.draw(once, seed=3)
    assert np.array_equal(answer, again[0]) and np.array_equal(first, again[1])  # one stream per seed
    assert set(np.round(answer, 6)) == {0.05, 0.7}  # only measured delays, each of its own attempt
    assert np.allclose(first[np.isclose(answer, 0.05)], 0.04)  # answer and first token of the same attempt
    assert 0.4 < np.mean(np.isclose(answer, 0.05)) < 0.6
    # a request answered at its third attempt waited for the two failed attempts' answers first
    thrice, _ = delays.draw(np.full(1000, 3, dtype=np.int64), seed=3)
    assert set(np.round(thrice, 6)) == {0.15, 0.8, 1.45, 2.1}


def test_without_the_backends_timing_the_low_load_probes_are_used() -> None:
    records = [_record(send_s=1.0, lag_s=0.0, first_s=1.05, end_s=1.1, timed=False)]
    delays = Delays.of_run(records, PROBES, time_scale=10.0, stream_tokens=8)
    assert not delays.measured
    answer, first = delays.draw(np.ones(3, dtype=np.int64), seed=1)
    assert np.allclose(answer, 0.02) and np.allclose(first, 0.025)
    assert delays.as_json(10.0)["answer_real_s"] is None
