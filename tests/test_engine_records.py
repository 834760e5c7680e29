"""sim/engine/records.py alone: the attempt log's typed columns, built from hand-made attempts."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.engine.attempt import Attempt
from sim.engine.records import ATTEMPT_COLUMNS, AttemptLog
from tests.engine_stubs import attempt


@dataclass
class Place:
    """A server as a record names it."""

    global_index: int


def finished(req: int, number: int, sent_s: float, code: int, server: int | None, hop: int = 0) -> Attempt:
    a = attempt(req, sent_s, number=number)
    a.hop, a.code, a.cluster = hop, code, 0 if server is not None else -1
    a.server = None if server is None else Place(server)
    if server is not None:
        a.start_s, a.first_token_s, a.end_s, a.server_end_s = sent_s + 0.1, sent_s + 0.2, sent_s + 1, sent_s + 1.5
    else:
        a.end_s = sent_s  # refused before any server: start, first token and server end stay NaN
    return a


def rows(columns: dict[str, np.ndarray]) -> list[tuple[float, ...]]:
    return [tuple(float(columns[name][i]) for name in ATTEMPT_COLUMNS) for i in range(len(columns["req"]))]


def test_columns_are_typed_and_sorted_by_send_time_request_attempt_and_hop() -> None:
    log = AttemptLog()
    log.append(finished(2, 1, 3.0, 200, 7))
    log.append(finished(0, 2, 3.0, 503, None))
    log.append(finished(1, 1, 1.0, 500, 4))
    retried = finished(0, 1, 0.5, 0, 5)
    log.append_router_try(retried, 503, now_s=0.75)  # a try the router retried: ends at 0.75 with 503
    retried.hop = 1
    log.append(retried)
    assert len(log) == 5
    columns = log.to_numpy()
    assert list(columns) == list(ATTEMPT_COLUMNS)
    assert all(columns[name].dtype == np.int32 for name in ATTEMPT_COLUMNS[:6])
    assert all(columns[name].dtype == np.float64 for name in ATTEMPT_COLUMNS[6:])
    nan = math.nan
    # req, number, hop, cluster, server, code, sent, start, first token, end, server end
    expected = [
        (0, 1, 0, 0, 5, 503, 0.5, 0.6, 0.7, 0.75, 0.75),
        (0, 1, 1, 0, 5, 0, 0.5, 0.6, 0.7, 1.5, 2.0),
        (1, 1, 0, 0, 4, 500, 1.0, 1.1, 1.2, 2.0, 2.5),
        (0, 2, 0, -1, -1, 503, 3.0, nan, nan, 3.0, nan),  # same send time as req 2: by request
        (2, 1, 0, 0, 7, 200, 3.0, 3.1, 3.2, 4.0, 4.5),
    ]
    got = rows(columns)
    assert len(got) == len(expected)
    for row, want in zip(got, expected, strict=True):
        assert np.allclose(row, want, equal_nan=True), (row, want)
    assert len(log) == 0  # the log gave its columns away


def test_packing_in_blocks_keeps_every_row() -> None:
    packed, flat = AttemptLog(), AttemptLog()
    packed.BLOCK = 2  # pack every second row
    for req in range(5):
        for log in (packed, flat):
            log.append(finished(req, 1, 10.0 - req, 200, req))
    assert len(packed) == 5
    out, want = packed.to_numpy(), flat.to_numpy()
    assert out["req"].tolist() == [4, 3, 2, 1, 0]  # sent at 6, 7, 8, 9, 10
    for name in ATTEMPT_COLUMNS:
        assert np.array_equal(out[name], want[name], equal_nan=True)
