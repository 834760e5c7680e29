"""What the mock service plays of the simulator's control plane decides as the simulator does, on the
same input: CoDel on a server's waiting room (``sim.control.shedding.Codel`` in both), eviction from a
full room by priority (``lowest_priority_victim``), and the error
latency of an injected error_rate fault (``sim.control.faults.error_latency_s`` in both).

As in ``tests/test_control_shared.py``: the engine runs a small scenario; the mock's own object (here
a ``MockServer``) is driven on a virtual clock, without network, by the same arrivals, and must make
the same decisions in the same order.
"""

from __future__ import annotations

import asyncio
import heapq
from types import SimpleNamespace

import numpy as np
import pytest

from loadtest.mock import server as mock_server
from loadtest.mock.backend import apply_fault
from loadtest.mock.injection import parse_injection, planned_injections
from loadtest.mock.server import MockServer, SlotStart
from sim.control.faults import error_latency_s
from sim.engine import simulate
from sim.scenario import Scenario
from tests.conftest import make_scenario

SERVICE_S = 1.0


def _codel_scenario() -> Scenario:
    """One single-slot server at 120% load (fixed 1 s answers): waits grow and CoDel sheds."""
    return make_scenario(
        duration=300,
        workload={"rate": 1.2},
        clusters=[
            {
                "name": "c",
                "servers": 1,
                "slots": 1,
                "service": {"kind": "deterministic", "mean": SERVICE_S},
                "codel": {"target": 0.5, "interval": 3.0},
            }
        ],
    )


def _mock_replay(
    scenario: Scenario,
    arrivals_s: np.ndarray,
    priorities: list[int],
    time_scale: float,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[list[bool], list[float]]:
    """The mock server fed ``arrivals_s`` (scenario seconds; each request's class priority) on a virtual
    clock, each service ``SERVICE_S``: for each arrival whether it was refused (full room, CoDel or
    eviction: 503), and the service start of each one served (scenario seconds), in arrival order."""
    clock = SimpleNamespace(now_s=0.0)
    monkeypatch.setattr(mock_server, "time", SimpleNamespace(monotonic=lambda: clock.now_s))

    async def run() -> tuple[list[bool], list[float]]:
        server = MockServer(0, scenario.clusters[0], scenario.seed, 0, time_scale)
        events = [(float(t), 1, i) for i, t in enumerate(arrivals_s)]  # (scenario s, 0 = an end / 1 = arrival, i)
        heapq.heapify(events)
        tasks: dict[int, asyncio.Task[SlotStart | None]] = {}
        refused: dict[int, bool] = {}
        starts: dict[int, float] = {}
        while events:
            at_s, kind, i = heapq.heappop(events)
            clock.now_s = at_s / time_scale
            if kind == 1:
                tasks[i] = asyncio.create_task(server.acquire(priorities[i]))
            else:
                server.release(server.life, at_s / time_scale)
            await asyncio.sleep(0)  # the woken requests take their turn (one loop step: callbacks in order)
            for j, task in list(tasks.items()):
                if task.done():
                    slot = task.result()
                    del tasks[j]
                    refused[j] = slot is None or slot.shed
                    if slot is not None and not slot.shed:
                        starts[j] = slot.begin * time_scale
                        heapq.heappush(events, (starts[j] + SERVICE_S, 0, j))
        for task in tasks.values():  # still waiting at the end
            task.cancel()
        return [refused.get(i, False) for i in range(len(arrivals_s))], [starts[i] for i in sorted(starts)]

    return asyncio.run(run())


def _assert_same_decisions(scenario: Scenario, time_scale: float, monkeypatch: pytest.MonkeyPatch) -> int:
    """The engine's run and the mock's replay of its arrivals refuse the same requests and start the
    others at the same times; the number refused."""
    result = simulate(scenario)
    attempts = result.attempts
    order = np.argsort(attempts["sent_s"], kind="stable")
    sent_s, code, start_s = attempts["sent_s"][order], attempts["code"][order], attempts["start_s"][order]
    priority = [scenario.workload.classes[k].priority for k in result.klass] if scenario.workload.classes else []
    priorities = [priority[r] for r in attempts["req"][order]] if priority else [0] * sent_s.size
    simulated = (code == 503).tolist()

    refused, starts = _mock_replay(scenario, sent_s, priorities, time_scale, monkeypatch)
    last = int(np.flatnonzero(code != 0)[-1])  # the run's end cuts the tail: compare what both decided
    assert refused[: last + 1] == simulated[: last + 1]
    served = start_s[code == 200]
    assert np.allclose(starts[: served.size], served, rtol=0, atol=1e-9)
    return sum(simulated)


@pytest.mark.parametrize("time_scale", [1.0, 10.0])
def test_codel_sheds_the_same_requests_in_the_simulator_and_the_mock(
    time_scale: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = _codel_scenario()
    assert 10 < _assert_same_decisions(scenario, time_scale, monkeypatch) < 150  # CoDel acts, not on everything


@pytest.mark.parametrize("time_scale", [1.0, 10.0])
def test_a_full_waiting_room_evicts_the_same_requests_in_the_simulator_and_the_mock(
    time_scale: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two classes of priority 0 and 1 at 130% load on one slot with room for 3: a request of
    priority 1 that finds the room full takes the place of the newest of priority 0 (503)."""
    scenario = make_scenario(
        duration=300,
        workload={"rate": 1.3, "classes": [{"name": "batch", "priority": 0}, {"name": "chat", "priority": 1}]},
        clusters=[
            {
                "name": "c",
                "servers": 1,
                "slots": 1,
                "queue_limit": 3,
                "service": {"kind": "deterministic", "mean": SERVICE_S},
            }
        ],
    )
    assert _assert_same_decisions(scenario, time_scale, monkeypatch) > 30


def _error_scenario() -> Scenario:
    """One two-slot server; an error_rate fault of 40% with 0.3 s error answers over [20, 80)."""
    return make_scenario(
        duration=100,
        workload={"rate": 1.0},
        clusters=[{"name": "c", "servers": 1, "slots": 2, "service": {"kind": "deterministic", "mean": 0.5}}],
        faults=[{"kind": "error_rate", "target": "c", "at": 20, "until": 80, "fraction": 0.4, "error_latency": 0.3}],
    )


@pytest.mark.parametrize("time_scale", [1.0, 10.0])
def test_an_injected_error_rate_fails_the_same_requests_after_the_same_latency(time_scale: float) -> None:
    """The mock server, given the scenario's planned injection (the load generator's and the mock's
    own), fails the requests the simulator fails, each after the simulator's error latency: the
    injection carries ``error_latency`` (scaled), the mock server keeps it in scenario seconds."""
    scenario = _error_scenario()
    attempts = simulate(scenario).attempts
    during = (attempts["start_s"] >= 20) & (attempts["start_s"] < 80)
    order = np.argsort(attempts["start_s"][during], kind="stable")  # the order requests met the fault
    code = attempts["code"][during][order]
    held_s = (attempts["server_end_s"] - attempts["start_s"])[during][order]
    simulated = [round(float(s), 9) if c == 500 else None for c, s in zip(code, held_s, strict=True)]
    assert 10 < sum(c == 500 for c in code) < len(code) - 10  # the fault fails some, not all

    async def mock() -> list[float | None]:
        server = MockServer(0, scenario.clusters[0], scenario.seed, 0, time_scale)
        [(at_s, injection)] = planned_injections(scenario, scenario.seed, time_scale)
        assert at_s == pytest.approx(20 / time_scale) and injection.error_latency_s == pytest.approx(0.3 / time_scale)
        apply_fault([server], parse_injection(injection.payload()))  # as POST /admin/faults receives it
        [(share, latency_s)] = server.error_fractions
        assert share == 0.4 and latency_s == pytest.approx(0.3)  # scenario seconds, as on a simulated server
        decided = [error_latency_s(server.error_fractions, server.fault_draws) for _ in simulated]
        return [None if s is None else round(s, 9) for s in decided]

    assert asyncio.run(mock()) == simulated
