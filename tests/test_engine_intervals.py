"""sim/engine/intervals.py alone: mean open intervals per window, by hand and against a brute force."""

from __future__ import annotations

import itertools

import numpy as np

from sim.engine.intervals import open_count_means


def brute_force(start_s: np.ndarray, end_s: np.ndarray, edges_s: np.ndarray) -> np.ndarray:
    """Per window: the sum of each interval's overlap with it, over its width."""
    means = []
    for low, high in itertools.pairwise(edges_s):
        overlap = sum(max(0.0, min(e, high) - max(s, low)) for s, e in zip(start_s, end_s, strict=True) if e > s)
        means.append(overlap / (high - low))
    return np.array(means)


def test_by_hand() -> None:
    start = np.array([0.0, 0.5, 3.0, 2.0, 1.0])
    end = np.array([1.5, 1.0, 3.5, 2.0, 0.5])  # the last two are empty and reversed: they count 0
    # window [0, 1): [0, 1.5) covers 1, [0.5, 1) covers 0.5 -> 1.5; [1, 2): 0.5 of the first -> 0.5;
    # [2, 4): [3, 3.5) -> 0.5 / 2 = 0.25
    means = open_count_means(start, end, np.array([0.0, 1.0, 2.0, 4.0]))
    assert means.tolist() == [1.5, 0.5, 0.25]
    assert start.tolist() == [0.0, 0.5, 3.0, 2.0, 1.0]  # the inputs are not sorted in place


def test_against_a_brute_force() -> None:
    rng = np.random.default_rng(19)
    start = rng.uniform(-5, 100, 400)
    end = start + rng.uniform(-2, 30, 400)  # some reversed, some past the last edge
    edges = np.array([0.0, 0.5, 7.0, 7.25, 20.0, 50.0, 99.0, 100.0])
    assert np.allclose(open_count_means(start, end, edges), brute_force(start, end, edges), rtol=1e-9, atol=1e-9)
