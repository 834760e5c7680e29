"""sim/engine/cluster.py alone: a Cluster on a Kernel (its servers built from its spec, deterministic
1 s service), a recorder for the answers; routing, the central queue, refresh of the routable servers,
partitions, the adaptive limit's admission and stale load reports."""

from __future__ import annotations

from typing import Any

from sim.engine.attempt import Attempt
from sim.engine.cluster import Cluster, LoadReport
from sim.engine.kernel import Gauge, Kernel
from sim.scenario import Router as RouterSpec
from tests.engine_stubs import Finish, at, attempt, spec


def cluster(
    servers: int, slots: int = 1, cluster_fields: dict[str, Any] | None = None, **router: Any
) -> tuple[Kernel, Finish, Cluster]:
    kernel = Kernel()
    finish = Finish(kernel)
    made = Cluster(
        kernel, spec(servers=servers, slots=slots, **(cluster_fields or {})), RouterSpec(**router), 3, 20, 1, finish
    )
    return kernel, finish, made


def send(kernel: Kernel, c: Cluster, times_s: list[float]) -> list[Attempt]:
    attempts = [attempt(req, t) for req, t in enumerate(times_s)]
    for a in attempts:
        at(kernel, a.sent_s, c.submit, a)
    return attempts


def placed(attempts: list[Attempt]) -> list[tuple[int, int, float]]:
    """(cluster, server, start) of each attempt."""
    return [(a.cluster, -1 if a.server is None else a.server.index, a.start_s) for a in attempts]


def test_round_robin_places_attempts_in_turn_and_queues_at_the_server() -> None:
    kernel, finish, c = cluster(3, strategy="round_robin")
    attempts = send(kernel, c, [0.0, 0.1, 0.2, 0.3])
    kernel.run(10.0)
    # servers 0, 1, 2, then 0 again, where the fourth waits until 1.0
    assert placed(attempts) == [(3, 0, 0.0), (3, 1, 0.1), (3, 2, 0.2), (3, 0, 1.0)]
    assert finish.trace == [(1.0, 0, 200), (1.1, 1, 200), (1.2, 2, 200), (2.0, 3, 200)]
    assert [s.global_index for s in c.servers] == [20, 21, 22] and c.load == 0


def test_the_central_queue_hands_work_to_the_first_free_slot_and_is_capped() -> None:
    kernel, finish, c = cluster(2, strategy="central_queue", queue_limit=1)
    attempts = send(kernel, c, [0.0, 0.1, 0.2, 0.3])
    loads = []
    at(kernel, 0.5, lambda: loads.append((c.load, c.central_queued)))
    kernel.run(10.0)
    # two start at once; 0.2 waits centrally (the one place); 0.3 finds it full: 503. The slot
    # freed at 1.0 takes 0.2's attempt
    assert finish.trace == [(0.3, 3, 503), (1.0, 0, 200), (1.1, 1, 200), (2.0, 2, 200)]
    assert attempts[2].start_s == 1.0 and attempts[2].server is attempts[0].server
    assert loads == [(3, 1)]


def test_a_centrally_queued_attempt_can_be_cancelled() -> None:
    kernel, finish, c = cluster(1, strategy="central_queue")
    attempts = send(kernel, c, [0.0, 0.1, 0.2])
    at(kernel, 0.5, c.cancel, attempts[1])
    kernel.run(10.0)
    assert finish.trace == [(0.5, 1, 0), (1.0, 0, 200), (2.0, 2, 200)]
    assert c.central_queued == 0


def test_a_crash_seen_by_the_router_takes_the_server_out_of_rotation() -> None:
    kernel, finish, c = cluster(2, strategy="round_robin")
    routable, ejected = Gauge(2), Gauge()
    c.gauges = (routable, ejected)

    def crash() -> None:
        c.servers[0].crash()
        c.refresh_routable()  # what a crash fault does after taking a server down

    at(kernel, 0.5, crash)
    attempts = send(kernel, c, [1.0, 1.1, 1.2])
    kernel.run(5.0)
    # without health checks the router sees the crash at once: everything goes to server 1
    assert [a.server.index for a in attempts] == [1, 1, 1]
    assert finish.trace == [(2.0, 0, 200), (3.0, 1, 200), (4.0, 2, 200)]
    assert [s.index for s in c.routable] == [1] and c.routable_slots == 1
    assert routable.value == 1 and routable.take_area(5.0) == 2 * 0.5 + 1 * 4.5


def test_a_partitioned_cluster_fails_attempts_after_the_connect_timeout() -> None:
    kernel, finish, c = cluster(1, connect_timeout=0.25)
    c.partitioned = 1
    send(kernel, c, [1.0])
    kernel.run(5.0)
    assert finish.trace == [(1.25, 0, 503)]


def test_nothing_routable_refuses_at_once() -> None:
    kernel, finish, c = cluster(1)
    c.servers[0].drained = True
    c.refresh_routable()
    send(kernel, c, [1.0])
    kernel.run(5.0)
    assert finish.trace == [(1.0, 0, 503)]


def test_the_adaptive_limit_refuses_attempts_over_it() -> None:
    kernel, finish, c = cluster(4, adaptive_concurrency={"initial_limit": 2}, strategy="round_robin")
    send(kernel, c, [0.0, 0.0, 0.0])
    kernel.run(5.0)
    # two admitted; the third is over the limit of 2 outstanding
    assert finish.trace == [(0.0, 2, 503), (1.0, 0, 200), (1.0, 1, 200)]


def test_a_load_report_is_a_copy_until_refreshed() -> None:
    kernel, _, c = cluster(1, report_interval=1.0)
    assert [type(v) for v in c.views] == [LoadReport]
    report = c.reports[0]
    send(kernel, c, [0.2, 0.3])
    kernel.env.process(c.reporting())
    seen = []
    for t in (0.5, 1.5, 2.5):
        at(kernel, t, lambda: seen.append(((report.busy, report.queued), (c.servers[0].busy, c.servers[0].queued))))
    kernel.run(3.0)
    # service [0.2, 1.2) and [1.2, 2.2); reports at 1.0 and 2.0. The strategy sees (busy, queued) as
    # last reported: at 0.5 nothing reported yet; at 1.5 the report of 1.0 (one in service, one
    # waiting) while the server has one in service; at 2.5 the report of 2.0 while the server is idle
    assert seen == [((0, 0), (1, 1)), ((1, 1), (1, 0)), ((1, 0), (0, 0))]


def test_an_attempt_cancelled_while_connecting_to_a_partitioned_cluster_ends_once() -> None:
    kernel, finish, c = cluster(1, connect_timeout=1.0)
    c.partitioned = 1
    (waiting,) = send(kernel, c, [0.0])
    at(kernel, 0.5, c.cancel, waiting)  # the client gave up (cancel_on_timeout) before the connect timeout
    kernel.run(5.0)
    # the server side ends at the cancel, with nobody told; the connect failure due at 1.0 is moot,
    # and no central queue ever held it
    assert finish.trace == [(0.5, 0, 0)] and c.central_queued == 0 and c.load == 0
