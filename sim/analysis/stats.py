"""Confidence intervals over seeds (Student t) for independent and paired samples."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

__all__ = ["Interval", "mean_ci"]

Interval = dict[str, float | None]


def mean_ci(values: Sequence[float], level: float = 0.95) -> Interval:
    """Mean and two-sided Student-t interval; bounds are None with fewer than two values."""
    n = len(values)
    if n == 0:
        return {"mean": None, "ci_low": None, "ci_high": None}
    mean = math.fsum(values) / n
    if n < 2:
        return {"mean": mean, "ci_low": None, "ci_high": None}
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    half = _t_quantile(0.5 + level / 2, n - 1) * math.sqrt(variance / n)
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half}


@functools.lru_cache(maxsize=64)
def _t_quantile(q: float, dof: int) -> float:
    """Student t quantile; a comparison asks the same few (every metric has the same seed count) thousands of times."""
    from scipy import stats as st  # deferred: importing scipy.stats costs ~0.4 s in every worker process

    return float(st.t.ppf(q, dof))
