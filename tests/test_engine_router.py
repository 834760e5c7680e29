"""sim/engine/router.py alone: a Router on a Kernel with stand-in clusters that note what reaches them;
dispatch, overhead, capacity refusal, release, its own retries, cluster choice and cross-region latency."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from sim.engine.attempt import Attempt
from sim.engine.kernel import Kernel
from sim.engine.records import AttemptLog
from sim.engine.router import Router
from sim.rng import Draws
from sim.scenario import Router as RouterSpec
from sim.scenario import RouterRetries
from tests.engine_stubs import Finish, at, attempt
from tests.test_control import Load, Place, Script


@dataclass
class Sink(Load):
    """A cluster as the router sees it; notes (time, request) of each attempt submitted to it."""

    kernel: Kernel = field(default_factory=Kernel)
    received: list[tuple[float, int]] = field(default_factory=list)

    def submit(self, a: Attempt) -> None:
        self.received.append((self.kernel.now, a.req))

    def routed_submit(self) -> None:
        """No path of its own: the router keeps its slots (a real cluster may take attempts itself)."""
        return None


def cluster_at(name: str, kernel: Kernel, slots: int = 1, region: str | None = None) -> Sink:
    return Sink(name, slots, 0, Place(region=region), kernel=kernel)


class Clients:
    """The clients as the router answers them: ``finish`` notes each answer; records are counted."""

    def __init__(self, finish: Finish) -> None:
        self.finish = finish
        self.recorded: list[Attempt] = []

    def answer(self, a: Attempt, code: int) -> None:
        self.finish(a, code)

    def record(self, a: Attempt) -> None:
        self.recorded.append(a)


class _Scripted:
    """A Generator's ``random`` that hands out a Script's values (the router takes a real ``Draws``:
    compiled, it refuses any other class)."""

    def __init__(self, script: Script) -> None:
        self.script = script

    def random(self, size: int) -> np.ndarray:
        return np.array([self.script.uniform() for _ in range(size)])


def _real_draws(script: Script) -> Draws:
    return Draws(cast(np.random.Generator, _Scripted(script)), block=1)  # one value a refill: the script's order


def router(
    clusters: list[Sink], regions: tuple[str | None, ...] = (None,), draws: Any = None, **fields: Any
) -> tuple[Kernel, Finish, Router]:
    kernel = clusters[0].kernel
    finish = Finish(kernel)
    spec = RouterSpec(**fields)
    made = Router(kernel, spec, regions, _real_draws(draws or Script()), AttemptLog())
    made.route_to(cast(Any, clusters), cast(Any, [clusters] * len(regions)))
    made.answer_to(Clients(finish))
    return kernel, finish, made


def test_a_router_without_limits_sends_straight_to_the_classes_cluster() -> None:
    kernel = Kernel()
    sink = cluster_at("c", kernel)
    _, finish, r = router([sink])
    attempts = [attempt(req, t) for req, t in enumerate([0.0, 0.5])]
    for a in attempts:
        at(kernel, a.sent_s, r.submit, a)
    kernel.run(1.0)
    assert sink.received == [(0.0, 0), (0.5, 1)] and finish.trace == [] and r.in_flight == 2
    r.release(attempts[0])
    r.release(attempts[0])  # a second release of the same attempt frees nothing more
    assert r.in_flight == 1


def test_full_router_refuses_with_503_and_a_release_frees_a_slot() -> None:
    kernel = Kernel()
    sink = cluster_at("c", kernel)
    _, finish, r = router([sink], instances=1, concurrency=2)
    a = [attempt(req, t) for req, t in enumerate([0.0, 0.0, 0.5, 1.5])]
    for x in a:
        at(kernel, x.sent_s, r.submit, x)
    held = []
    at(kernel, 0.6, r.release, a[2])  # refused: it holds no slot, so this frees nothing
    at(kernel, 0.7, lambda: held.append(r.in_flight))
    at(kernel, 1.0, r.release, a[0])
    kernel.run(2.0)
    # slots 1 x 2: requests 0 and 1 take them; 2 is refused at 0.5; 0 leaves at 1.0; 3 gets its slot
    assert sink.received == [(0.0, 0), (0.0, 1), (1.5, 3)]
    assert finish.trace == [(0.5, 2, 503)]
    assert held == [2] and r.in_flight == 2


def test_a_refusal_for_want_of_a_router_slot_is_not_retried_by_the_router() -> None:
    """Its own 503 at the door: the router's retries (503 in ``on``) are for a server's failed try; the
    mock router refuses alike. Before, the refused attempt was dispatched again, without a slot."""
    kernel = Kernel()
    sink = cluster_at("c", kernel)
    _, finish, r = router([sink], instances=1, concurrency=1, retries=RouterRetries(max=2, on=[503]))
    a = [attempt(req, 0.0) for req in range(2)]
    for x in a:
        at(kernel, 0.0, r.submit, x)
    kernel.run(1.0)
    assert sink.received == [(0.0, 0)]  # request 1 never reached a cluster
    assert finish.trace == [(0.0, 1, 503)] and a[1].hop == 0 and r.in_flight == 1


def test_a_router_saturation_cuts_the_capacity_while_it_lasts() -> None:
    kernel = Kernel()
    sink = cluster_at("c", kernel)
    _, finish, r = router([sink], instances=2, concurrency=2)
    at(kernel, 0.0, r.saturate, 0.25, True)  # 4 slots x 0.25 = 1
    for req, t in enumerate([0.1, 0.2]):
        at(kernel, t, r.submit, attempt(req, t))
    at(kernel, 1.0, r.saturate, 0.25, False)
    at(kernel, 1.1, r.submit, attempt(2, 1.1))
    kernel.run(2.0)
    assert sink.received == [(0.1, 0), (1.1, 2)] and finish.trace == [(0.2, 1, 503)]


def test_overhead_delays_the_dispatch() -> None:
    kernel = Kernel()
    sink = cluster_at("c", kernel)
    _, finish, r = router([sink], overhead=0.25)
    at(kernel, 1.0, r.submit, attempt(0, 1.0))
    kernel.run(2.0)
    assert sink.received == [(1.25, 0)] and r.in_flight == 1 and finish.trace == []


def test_a_try_the_router_retries_keeps_its_slot() -> None:
    kernel = Kernel()
    sink = cluster_at("c", kernel)
    _, finish, r = router([sink], instances=1, concurrency=1, retries=RouterRetries(max=1, on=[500]))
    first = attempt(0, 0.0)
    at(kernel, 0.0, r.submit, first)
    at(kernel, 0.5, r.answer, first, 500)  # its server failed it: the router retries it, no new slot taken
    at(kernel, 0.6, r.submit, attempt(1, 0.6))  # the one slot is still held
    at(kernel, 0.8, r.answer, first, 500)  # its retry failed too: that one the client sees
    kernel.run(1.0)
    assert sink.received == [(0.0, 0), (0.5, 0)] and finish.trace == [(0.6, 1, 503), (0.8, 0, 500)]
    assert first.hop == 1 and r.in_flight == 1 and len(r.log) == 1  # the retried try is recorded by the router


def test_the_cluster_choice_draws_among_candidates_and_refuses_when_none_can_take_it() -> None:
    kernel = Kernel()
    small, big = cluster_at("small", kernel, slots=1), cluster_at("big", kernel, slots=3)
    # capacity_weighted: slots 1 and 3 -> a draw x 4 below 1 picks small
    _, finish, r = router([small, big], draws=Script(0.2, 0.5, 0.9))
    for req, t in enumerate([0.0, 0.1, 0.2]):
        at(kernel, t, r.submit, attempt(req, t))

    def nothing_routable() -> None:
        small.slots = big.slots = 0

    at(kernel, 0.3, nothing_routable)
    at(kernel, 0.4, r.submit, attempt(3, 0.4))
    kernel.run(1.0)
    # 0.2 x 4 = 0.8 < 1: small; 0.5 x 4 = 2: big; 0.9 x 4 = 3.6: big; then no slot anywhere: 503
    assert small.received == [(0.0, 0)] and big.received == [(0.1, 1), (0.2, 2)]
    assert finish.trace == [(0.4, 3, 503)]


def test_a_remote_cluster_is_reached_after_the_cross_region_latency() -> None:
    kernel = Kernel()
    far = cluster_at("far", kernel, region="us")
    _, finish, r = router([far], regions=("eu",), cross_region_latency=0.04)
    at(kernel, 1.0, r.submit, attempt(0, 1.0))
    kernel.run(2.0)
    assert far.received == [(1.04, 0)] and finish.trace == []
