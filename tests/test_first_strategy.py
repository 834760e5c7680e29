"""HAProxy's ``balance first`` as a strategy: lowest index with a free slot, else the router's queue."""

from __future__ import annotations

import numpy as np

from sim.rng import Draws
from sim.strategies import make_strategy
from tests.test_strategies import View


def test_first_fills_the_lowest_numbered_server_then_waits() -> None:
    views = [View(2, slots=2), View(0, busy=2, slots=2), View(1, busy=1, slots=2)]
    draws = Draws(np.random.default_rng(1))
    strategy = make_strategy("first", {}, views, draws)
    assert strategy.central
    assert strategy.choose(views, None, draws) == 2  # type: ignore[arg-type]  # server 1 (position 2) has a slot
    views[2].busy = 2
    assert strategy.choose(views, None, draws) == 0  # type: ignore[arg-type]  # then server 2
    views[0].busy = 2
    assert strategy.choose(views, None, draws) == -1  # type: ignore[arg-type]  # all full: the router's queue
