"""sim/engine/server.py alone: a Server on a Kernel and a stand-in cluster, hand-made attempts at fixed
times, deterministic service (1 s unless said) -> the exact (time, request, code) trace and start times."""

from __future__ import annotations

import math

from sim.control.faults import add_slowdown
from sim.engine.attempt import Attempt
from sim.engine.kernel import Kernel
from sim.engine.server import Server
from sim.scenario import Codel, ServiceModel
from tests.engine_stubs import ClusterStub, Finish, at, attempt, build_servers, spec


def one_server(**fields: object) -> tuple[Kernel, Finish, ClusterStub, Server]:
    kernel = Kernel()
    finish = Finish(kernel)
    cluster = ClusterStub(kernel, spec(**fields), finish)  # type: ignore[arg-type]
    (server,) = build_servers(Server, kernel, cluster)
    return kernel, finish, cluster, server


def send(kernel: Kernel, server: Server, times_s: list[float]) -> list[Attempt]:
    attempts = [attempt(req, t) for req, t in enumerate(times_s)]
    for a in attempts:
        at(kernel, a.sent_s, server.accept, a)
    return attempts


def starts(attempts: list[Attempt]) -> list[float]:
    return [a.start_s for a in attempts]


def test_two_slots_three_attempts_fcfs() -> None:
    kernel, finish, _, server = one_server(slots=2)
    attempts = send(kernel, server, [0.0, 0.25, 0.5])
    counts = []
    at(kernel, 0.75, lambda: counts.append((server.busy, server.queued, server.in_flight)))
    kernel.run(10.0)
    # 0 and 0.25 take the two slots; 0.5 waits for the first free one, at 1.0, and ends at 2.0
    assert starts(attempts) == [0.0, 0.25, 1.0]
    assert finish.trace == [(1.0, 0, 200), (1.25, 1, 200), (2.0, 2, 200)]
    assert counts == [(2, 1, 3)]
    assert (server.busy, server.queued, server.in_flight, server.work_in_flight, server.tokens_in_flight) == (
        0,
        0,
        0,
        0.0,
        0,
    )
    assert [a.server is server for a in attempts] == [True] * 3


def test_a_full_waiting_room_refuses_with_503_at_once() -> None:
    kernel, finish, _, server = one_server(queue_limit=1)
    attempts = send(kernel, server, [0.0, 0.1, 0.2, 1.5])
    kernel.run(10.0)
    # 0 serves [0, 1); 0.1 waits (the room's one place) and serves [1, 2); 0.2 finds it full: 503 at 0.2;
    # 1.5 waits again, the place being free since 1.0, and serves [2, 3)
    assert finish.trace == [(0.2, 2, 503), (1.0, 0, 200), (2.0, 1, 200), (3.0, 3, 200)]
    assert math.isnan(attempts[2].start_s) and attempts[2].server is server  # the record names the server


def test_a_higher_priority_attempt_evicts_the_newest_lowest_one() -> None:
    kernel, finish, _, server = one_server(queue_limit=2)
    a, b, c, d = (attempt(req, t) for req, t in enumerate([0.0, 0.1, 0.2, 0.3]))
    d.priority = 1  # the others are 0
    for x in (a, b, c, d):
        at(kernel, x.sent_s, server.accept, x)
    kernel.run(10.0)
    # the room holds b and c when d comes: c (the newest of priority 0) is refused, d takes its place
    # behind b; service in order a [0, 1), b [1, 2), d [2, 3)
    assert finish.trace == [(0.3, 2, 503), (1.0, 0, 200), (2.0, 1, 200), (3.0, 3, 200)]


def test_work_slowdown_and_the_concurrency_curve_scale_the_service_time() -> None:
    curve = ServiceModel(kind="deterministic", mean=1.0, concurrency_curve=[(1, 1.0), (2, 1.5)])
    kernel, finish, _, server = one_server(slots=2, service=curve)
    a, b = attempt(0, 0.0, work=2.0), attempt(1, 0.5)
    at(kernel, 0.0, server.accept, a)
    at(kernel, 0.5, server.accept, b)
    at(kernel, 3.0, add_slowdown, server, 3.0)
    c = attempt(2, 4.0)
    at(kernel, 4.0, server.accept, c)
    kernel.run(20.0)
    # a: 1 s x work 2 x factor 1 (alone) -> ends 2.0; b: 1 s x factor 1.5 (second busy slot) -> ends 2.0
    # c: alone but slowed 3 x -> 4.0 + 3.0 = 7.0
    assert finish.trace == [(2.0, 0, 200), (2.0, 1, 200), (7.0, 2, 200)]


def test_an_error_rate_fault_answers_500_after_its_latency() -> None:
    kernel, finish, _, server = one_server()
    server.error_fractions = [(1.0, 0.01)]  # every attempt fails, 10 ms after it starts
    send(kernel, server, [0.0, 0.005])
    kernel.run(10.0)
    # the second waits for the slot the first frees at 0.01, then fails 0.01 later
    assert finish.trace == [(0.01, 0, 500), (0.02, 1, 500)]


def test_a_crash_loses_what_it_holds_refuses_while_down_and_serves_after_recovery() -> None:
    kernel, finish, _, server = one_server()
    attempts = send(kernel, server, [0.0, 0.1, 0.6, 2.5])
    lost: list[list[int]] = []

    def crash() -> None:
        held = server.crash()
        lost.append([a.req for a in held])
        for a in held:
            finish(a, 500)  # what a crash fault does with them

    at(kernel, 0.5, crash)
    at(kernel, 2.0, server.recover)
    kernel.run(10.0)
    # 0 (in service) and 1 (waiting) are lost at 0.5; 0's completion due at 1.0 does nothing;
    # 0.6 is refused while down; 2.5 is served after the recovery at 2.0
    assert lost == [[0, 1]]
    assert finish.trace == [(0.5, 0, 500), (0.5, 1, 500), (0.6, 2, 503), (3.5, 3, 200)]
    assert attempts[3].start_s == 2.5 and server.up and server.in_flight == 0


def test_two_crashes_hold_it_down_until_both_end() -> None:
    kernel, finish, _, server = one_server()
    at(kernel, 0.0, server.crash)
    at(kernel, 1.0, server.crash)
    at(kernel, 2.0, server.recover)
    send(kernel, server, [0.0, 2.5, 4.0])
    at(kernel, 3.0, server.recover)
    kernel.run(10.0)
    assert finish.trace == [(0.0, 0, 503), (2.5, 1, 503), (5.0, 2, 200)]


def test_cancel_frees_a_slot_or_a_place_and_the_next_starts_at_once() -> None:
    kernel, finish, _, server = one_server()
    attempts = send(kernel, server, [0.0, 0.1, 0.2])
    at(kernel, 0.3, server.cancel, attempts[2])  # waiting: out of the room
    at(kernel, 0.4, server.cancel, attempts[0])  # in service: stopped; 1 starts at once
    kernel.run(10.0)
    # 0's completion due at 1.0 is ignored; 1 serves [0.4, 1.4); 2 never starts
    assert finish.trace == [(0.3, 2, 0), (0.4, 0, 0), (1.4, 1, 200)]
    assert starts(attempts)[:2] == [0.0, 0.4] and math.isnan(attempts[2].start_s)
    assert (server.busy, server.queued, server.in_flight) == (0, 0, 0)


def test_codel_drops_from_the_queue_once_waits_stayed_above_target_for_an_interval() -> None:
    kernel, finish, _, server = one_server(codel=Codel(target=0.5, interval=1.0))
    send(kernel, server, [0.0, 0.0, 0.0, 0.0, 1.9])
    kernel.run(20.0)
    # at 1.0: req 1 waited 1.0 >= 0.5, the first wait above target: dropping may start at 1.0 + 1.0;
    # it is served [1, 2). At 2.0: req 2 waited 2.0 and now >= 2.0 -> 503; req 3 too (dropping);
    # req 4 waited 0.1 < 0.5: the state resets and it is served [2, 3)
    assert finish.trace == [(1.0, 0, 200), (2.0, 1, 200), (2.0, 2, 503), (2.0, 3, 503), (3.0, 4, 200)]


def test_a_freed_slot_pulls_from_the_clusters_central_queue() -> None:
    kernel, finish, cluster, server = one_server()
    server.central = True  # as a cluster with a central queue sets it
    waiting = attempt(7, 0.2)

    def queue_centrally() -> None:
        cluster.central_queue.append(waiting)
        cluster.central_queued += 1

    send(kernel, server, [0.0])
    at(kernel, 0.2, queue_centrally)
    kernel.run(10.0)
    assert finish.trace == [(1.0, 0, 200), (2.0, 7, 200)]
    assert waiting.start_s == 1.0 and cluster.central_queued == 0


def test_the_strategy_observes_each_completion() -> None:
    kernel, _, _, server = one_server(slots=2)
    seen: list[tuple[int, int, float]] = []
    server.observe = lambda s, a, now_s: seen.append((s.index, a.req, now_s))
    send(kernel, server, [0.0, 0.5])
    kernel.run(10.0)
    assert seen == [(0, 0, 1.0), (0, 1, 1.5)]
