"""Property-based invariants over random small scenarios (hypothesis)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from sim.analysis.metrics import summarize
from sim.engine import simulate
from sim.strategies import STRATEGIES
from tests.conftest import make_scenario


@hs.composite
def scenarios(draw: hs.DrawFn) -> dict[str, Any]:
    servers = draw(hs.integers(1, 5))
    cluster = {
        "name": "c",
        "servers": servers,
        "slots": draw(hs.integers(1, 3)),
        "queue_limit": draw(hs.one_of(hs.none(), hs.integers(0, 3))),
        "service": {"kind": draw(hs.sampled_from(["exponential", "deterministic", "lognormal"])), "mean": 1.0},
    }
    faults = []
    if draw(hs.booleans()):
        kind = draw(hs.sampled_from(["crash", "error_rate", "slowdown"]))
        target = draw(hs.sampled_from(["c", f"c/{servers - 1}"]))
        faults.append(
            {
                "kind": kind,
                "target": target,
                "at": draw(hs.floats(0, 50)),
                "duration": draw(hs.floats(1, 50)),
                "fraction": draw(hs.floats(0.1, 1.0)),
                "factor": 3,
            }
        )
    retries = {
        "max": draw(hs.integers(0, 3)),
        "backoff": draw(hs.sampled_from(["none", "constant", "exponential"])),
        "jitter": draw(hs.sampled_from(["none", "full", "equal", "decorrelated"])),
        "base": 0.2,
        "cap": 2,
    }
    if draw(hs.booleans()):
        retries["budget"] = {"ratio": 0.2, "min_per_s": 0.1}
    return {
        "duration": 100,
        "warmup": draw(hs.sampled_from([0, 10])),
        "drain": draw(hs.sampled_from([0, 20])),
        "workload": {"rate": draw(hs.floats(0.2, 6.0))},
        "clusters": [cluster],
        "router": {
            "strategy": draw(hs.sampled_from(sorted(STRATEGIES))),
            "concurrency": draw(hs.one_of(hs.none(), hs.integers(1, 8))),
        },
        "clients": {
            "timeout": draw(hs.one_of(hs.none(), hs.floats(0.5, 5))),
            "cancel_on_timeout": draw(hs.booleans()),
            "retries": retries,
        },
        "faults": faults,
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=scenarios(), seed=hs.integers(0, 2**16))
def test_conservation_and_sanity(fields: dict[str, Any], seed: int) -> None:
    result = simulate(make_scenario(**fields), seed)
    summary = summarize(result)
    req = summary.requests
    assert req.offered == req.succeeded + req.failed + req.in_flight
    assert req.attempts >= req.offered
    assert sum(summary.errors_by_code.values()) == req.failed
    a = result.attempts
    assert len(a["req"]) == int(result.req_attempts.sum())  # every attempt recorded exactly once
    waits = a["start_s"] - a["sent_s"]
    assert np.all(waits[~np.isnan(waits)] >= 0)
    answered = a["code"] != 0
    assert np.all(a["end_s"][answered] >= a["sent_s"][answered])
    done = result.req_code != 0
    assert np.all(result.req_end_s[done] >= result.arrival_s[done])
    assert set(np.unique(result.req_code).tolist()) <= {0, 200, 500, 503, 504}
    assert np.all(result.req_attempts <= fields["clients"]["retries"]["max"] + 1)
    assert 0.0 <= summary.utilization <= 1.0 + 1e-9
    if summary.availability is not None:
        assert 0.0 <= summary.availability <= 1.0
