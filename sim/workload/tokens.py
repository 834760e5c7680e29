"""Draws of token counts from a ``TokenCount`` (prompt and answer lengths), as integer arrays."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sim.inputs.datafiles import read_histogram
from sim.scenario.tokens import TokenCount

__all__ = ["draw_tokens", "mean_tokens"]


def draw_tokens(count: TokenCount, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` token counts (at least 1, at most ``count.max``) drawn from ``count`` with ``rng``."""
    if count.kind == "constant":
        values = np.full(n, float(count.value or 1))
    elif count.kind == "uniform":
        values = rng.integers(int(count.min or 1), int(count.max or 1) + 1, n).astype(np.float64)
    elif count.kind == "lognormal":
        mean = float(count.mean or 1.0)
        sigma2 = math.log1p(count.cv**2)
        values = rng.lognormal(math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2), n)
    elif count.kind == "pareto":
        # numpy's pareto is Lomax (starts at 0): shift and scale to a classic Pareto from ``min``
        values = (rng.pareto(float(count.alpha or 1.0), n) + 1.0) * float(count.min or 1)
    else:
        histogram = read_histogram(Path(count.file or ""))
        values = rng.choice(histogram.tokens, size=n, p=histogram.probability).astype(np.float64)
    tokens = np.maximum(np.rint(values), 1.0)
    if count.max is not None:
        tokens = np.minimum(tokens, count.max)
    out: np.ndarray = tokens.astype(np.int64)
    return out


def mean_tokens(count: TokenCount) -> float:
    """Expected count before the ``max`` cap (infinite for a Pareto tail with alpha <= 1)."""
    if count.kind == "constant":
        return float(count.value or 1)
    if count.kind == "uniform":
        return (float(count.min or 1) + float(count.max or 1)) / 2.0
    if count.kind == "lognormal":
        return float(count.mean or 1.0)
    if count.kind == "pareto":
        alpha = float(count.alpha or 1.0)
        return math.inf if alpha <= 1 else alpha * float(count.min or 1) / (alpha - 1.0)
    histogram = read_histogram(Path(count.file or ""))
    return float((histogram.tokens * histogram.probability).sum())
