"""HAProxy's consistent-hash ring in the simulator: the nearest-node rule, the shares it gives, and
``random(d)`` drawing from them."""

from __future__ import annotations

import numpy as np
from scipy import stats

from sim.implementations.haproxy_random import HaproxyRandom
from sim.implementations.haproxy_ring import (
    BE_WEIGHT_SCALE,
    RING_SPACE,
    nearest_server,
    node_shares,
    ring_nodes,
    ring_shares,
    share_ends,
)
from sim.rng import Draws
from tests.test_strategies import View

EIGHT = {puid: 1 for puid in range(1, 9)}  # validate-strategies: 8 servers of weight 1


def test_the_nearest_node_wins_and_the_earlier_one_on_equal_distances() -> None:
    nodes = [(100, 1), (200, 2), (RING_SPACE - 100, 3)]
    assert [nearest_server(nodes, h) for h in (100, 149, 150, 151, 200)] == [1, 1, 1, 2, 2]
    # past the last key the lookup wraps to the first; before the first key, back to the last
    # (0 is 100 past node 3 and 100 before node 1: the earlier wins across the wrap too)
    assert [nearest_server(nodes, h) for h in (RING_SPACE - 101, RING_SPACE - 1, 0, 1)] == [3, 3, 3, 1]
    assert node_shares(nodes) == {1: 50 + 100, 2: 50 + (RING_SPACE - 300) // 2, 3: (RING_SPACE - 300) // 2 + 100}


def test_the_shares_are_where_the_nearest_rule_changes_server() -> None:
    # each gap between neighbouring nodes a < b splits after a + gap // 2: the last hash for a's server,
    # the next one for b's; so the shares (gap // 2 and the rest) count exactly what the lookup returns
    nodes = ring_nodes(EIGHT)
    for (key, puid), (next_key, next_puid) in zip(nodes, [*nodes[1:], nodes[0]], strict=True):
        split = (key + ((next_key - key) % RING_SPACE) // 2) % RING_SPACE
        assert nearest_server(nodes, split) == puid
        assert nearest_server(nodes, (split + 1) % RING_SPACE) == next_puid


def test_shares_cover_the_ring_once_deterministically_and_unevenly() -> None:
    shares = ring_shares(EIGHT)
    assert sum(shares.values()) == RING_SPACE and shares == ring_shares(dict(EIGHT))
    assert len(ring_nodes(EIGHT)) == 8 * BE_WEIGHT_SCALE
    spread = (max(shares.values()) - min(shares.values())) / (RING_SPACE / 8)
    assert spread > 0.2  # 16 hashed points per server leave shares far from an eighth each (0.82..1.20)
    many = ring_shares({puid: 16 for puid in EIGHT})  # 256 points each: closer to even
    assert (max(many.values()) - min(many.values())) / (RING_SPACE / 8) < spread


def test_more_weight_adds_nodes_and_only_takes_from_the_others() -> None:
    light, heavy = ring_shares(EIGHT), ring_shares({**EIGHT, 1: 2})
    assert sum(heavy.values()) == RING_SPACE
    assert heavy[1] > light[1]  # its first 16 nodes stay where they were; 16 more take ring from others
    assert all(heavy[puid] <= light[puid] for puid in EIGHT if puid != 1)


def test_a_server_that_goes_takes_its_nodes_and_the_others_keep_theirs() -> None:
    without_3 = {puid: 1 for puid in EIGHT if puid != 3}
    all_eight, seven = ring_shares(EIGHT), ring_shares(without_3)
    assert 3 not in seven and sum(seven.values()) == RING_SPACE
    assert all(seven[puid] >= all_eight[puid] for puid in without_3)
    ends = share_ends(without_3)
    assert ends == sorted(ends) and ends[-1] == RING_SPACE


def test_random_draws_each_server_with_its_ring_share_one_uniform_per_draw() -> None:
    views = [View(i) for i in range(8)]
    strategy = HaproxyRandom(1)
    draws, replay = Draws(np.random.default_rng(3)), np.random.default_rng(3)
    count = 40_000
    picks = np.bincount([strategy.choose(views, None, draws) for _ in range(count)], minlength=8)  # type: ignore[arg-type]
    assert draws.uniform() == replay.random(count + 1)[-1]  # the stream advanced by exactly one per draw
    expected = count * np.array(list(ring_shares(EIGHT).values())) / RING_SPACE
    assert stats.chisquare(picks, expected).pvalue > 0.001
    assert stats.chisquare(picks, np.full(8, count / 8)).pvalue < 1e-6  # not uniform: decisive at 40 000


def test_the_ring_of_the_servers_up_is_used() -> None:
    # server index 2 is down: its puid (3) has no nodes; the positions follow the list handed over
    views = [View(i) for i in (0, 1, 3, 4, 5, 6, 7)]
    strategy = HaproxyRandom(1)
    without_3 = {index + 1: 1 for index in (0, 1, 3, 4, 5, 6, 7)}
    assert strategy.ring_ends(views) == share_ends(without_3)


class Scripted:
    """Draws that return given 32-bit hashes, one per ``index`` call."""

    def __init__(self, hashes: list[int]) -> None:
        self.hashes = iter(hashes)

    def index(self, n: int) -> int:
        assert n == RING_SPACE
        return next(self.hashes)


def _pick(strategy: HaproxyRandom, views: list[View], hashes: list[int]) -> int:
    return strategy.choose(views, None, Scripted(hashes))  # type: ignore[arg-type]


def test_the_later_draw_wins_ties_and_weights_divide_the_connections() -> None:
    # hash 0 lands on server 0's share, the last hash on server 1's; HAProxy keeps the earlier draw only
    # when the later has more connections per weight (served x the other's weight)
    first, last = 0, RING_SPACE - 1
    equal, heavier = HaproxyRandom(2), HaproxyRandom(2, weights=[1, 3])
    tied = [View(0, in_flight=2), View(1, in_flight=2)]
    assert [_pick(equal, tied, [first, last]), _pick(equal, tied, [last, first])] == [1, 0]
    loaded = [View(0, in_flight=1), View(1, in_flight=2)]
    assert [_pick(equal, loaded, [first, last]), _pick(equal, loaded, [last, first])] == [0, 0]
    assert [_pick(heavier, loaded, [first, last]), _pick(heavier, loaded, [last, first])] == [1, 1]  # 2/3 < 1/1
    assert _pick(HaproxyRandom(3), loaded, [last, last, last]) == 1  # the same server thrice: nothing to compare
