"""What watchers and users see of a run: status-page states, outage reports, the incident, its cost.

Reads the per-window time series of ``sim.analysis.metrics.timeseries`` only. A rule decided on a window
takes effect at the window's end: an observer cannot know a window's error rate before it is over.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.analysis.summary import Cost
from sim.rng import Stream, stream
from sim.scenario import Scenario
from sim.scenario.monitoring import Observer, OutageReports

__all__ = [
    "LEVELS",
    "RESOLVED",
    "Episode",
    "ObserverView",
    "confirmed_levels",
    "cost_usd",
    "down_windows",
    "error_rate",
    "incident_windows",
    "measured_windows",
    "monitoring_columns",
    "observe",
    "outage_reports",
    "window_levels",
]

LEVELS = ("operational", "degraded", "partial_outage", "major_outage")
RESOLVED = "resolved"
DAY_S = 86400.0


def error_rate(series: dict[str, np.ndarray]) -> np.ndarray:
    """Failed / answered per window (NaN where nothing was answered)."""
    answered = series["succeeded"] + series["failed"]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(answered > 0, series["failed"] / np.maximum(answered, 1), np.nan)


def window_levels(obs: Observer, series: dict[str, np.ndarray]) -> np.ndarray:
    """Index into ``LEVELS`` of each window by the observer's thresholds (unconfirmed)."""
    rate = np.nan_to_num(error_rate(series), nan=0.0)
    levels = np.zeros(rate.size, dtype=np.int64)
    for level, threshold in enumerate((obs.degraded_error_rate, obs.partial_error_rate, obs.major_error_rate), 1):
        levels[rate >= threshold] = level
    if obs.latency_p95 is not None:
        slow = np.nan_to_num(series["latency_p95_s"], nan=0.0) > obs.latency_p95
        levels[slow] = np.maximum(levels[slow], 1)
    stalled = (series["succeeded"] + series["failed"] == 0) & (series["offered"] > 0)
    levels[stalled] = 3
    return levels


def confirmed_levels(levels: np.ndarray, confirm: int, clear: int) -> np.ndarray:
    """The level an observer has confirmed at the end of each window.

    Raised to the lowest level of the last ``confirm`` windows when that is higher; lowered to
    the highest level of the last ``clear`` windows when all are lower but not operational (no
    flapping); back to 0 after ``clear`` consecutive operational windows.
    """
    out = np.zeros(levels.size, dtype=np.int64)
    current = 0
    for w in range(levels.size):
        recent = levels[max(0, w - confirm + 1) : w + 1]
        held = int(recent.min()) if recent.size == confirm else 0
        calm = levels[max(0, w - clear + 1) : w + 1]
        peak = int(calm.max()) if calm.size == clear else current
        if held > current:
            current = held
        elif peak < current:
            current = peak
        out[w] = current
    return out


@dataclass(frozen=True)
class Episode:
    """One confirmed incident of an observer (times in s; None = not within the run)."""

    detected_s: float
    acknowledged_s: float | None
    cleared_s: float | None

    @property
    def resolved_s(self) -> float | None:
        """When 'resolved' was posted: once cleared and acknowledged."""
        if self.cleared_s is None or self.acknowledged_s is None:
            return None
        return max(self.cleared_s, self.acknowledged_s)


@dataclass(frozen=True)
class ObserverView:
    """What one observer posted: events ``(at_s, state, note)``, the state shown per window, episodes."""

    events: list[tuple[float, str, str]]
    shown: list[str]
    episodes: list[Episode]


def observe(obs: Observer, series: dict[str, np.ndarray], horizon_s: float) -> ObserverView:
    """Run the observer's rules; posts later than ``horizon_s`` (the end of the run) never happen."""
    confirmed = confirmed_levels(window_levels(obs, series), obs.confirm, obs.clear)
    end = series["end_s"]
    changes = [(float(end[w]), int(confirmed[w])) for w in range(confirmed.size) if confirmed[w] != _prev(confirmed, w)]
    events: list[tuple[float, str, str]] = []
    episodes: list[Episode] = []
    ack_s = math.inf
    for i, (at_s, level) in enumerate(changes):
        if level and not _prev_level(changes, i):
            ack_s = at_s + obs.acknowledge
            episodes.append(Episode(at_s, ack_s if ack_s <= horizon_s else None, None))
        elif not level:
            episodes[-1] = Episode(episodes[-1].detected_s, episodes[-1].acknowledged_s, at_s)
        posted_by_ack = i + 1 == len(changes) or changes[i + 1][0] > ack_s
        if at_s >= ack_s:
            events.append((at_s, _state(level), "investigating" if at_s == ack_s and level else ""))
        elif posted_by_ack and ack_s <= horizon_s:
            note = "investigating" if level else "investigating, posted after it had cleared"
            events.append((ack_s, _state(level), note))
    return ObserverView(events, _shown(events, end), episodes)


def _prev(values: np.ndarray, w: int) -> int:
    return int(values[w - 1]) if w else 0


def _prev_level(changes: list[tuple[float, int]], i: int) -> int:
    return changes[i - 1][1] if i else 0


def _state(level: int) -> str:
    return LEVELS[level] if level else RESOLVED


def _shown(events: list[tuple[float, str, str]], end_s: np.ndarray) -> list[str]:
    """State a visitor sees at the end of each window ('resolved' only in the window it is posted)."""
    shown, state, k = [], LEVELS[0], 0
    for w in range(end_s.size):
        posted = None
        while k < len(events) and events[k][0] <= end_s[w]:
            posted = events[k][1]
            k += 1
        if posted is not None:
            state = posted
        shown.append(state)
        if state == RESOLVED:
            state = LEVELS[0]
    return shown


def outage_reports(cfg: OutageReports, series: dict[str, np.ndarray], seed: int) -> np.ndarray:
    """User outage reports per window: a binomial model over each window's failures (see ``OutageReports``)."""
    rng = stream(seed, Stream.OUTAGE_REPORTS)
    answered = series["succeeded"] + series["failed"]
    rate = np.nan_to_num(error_rate(series), nan=0.0)
    users = np.rint(np.floor(answered / cfg.requests_per_user) * cfg.scale).astype(np.int64)
    unlucky = at_least(cfg.failures, cfg.requests_per_user, rate)
    reports = rng.binomial(users, np.clip(unlucky * cfg.probability, 0.0, 1.0))
    width_s = series["end_s"] - series["start_s"]
    background = rng.poisson(cfg.background_per_day * width_s / DAY_S)
    return np.asarray(reports + background, dtype=np.int64)


def at_least(k: int, n: int, p: np.ndarray) -> np.ndarray:
    """P(X >= k) for X ~ Binomial(n, p), per element of ``p`` in [0, 1] (1 <= k <= n): ``binom.sf(k - 1, n, p)``.

    Exactly 0 where p = 0 and 1 where p = 1; scipy evaluates the rest (what ``scipy.stats.binom.sf`` calls),
    imported only then: a run without errors needs no scipy, and none needs scipy.stats (~70 MB, ~1 s).
    """
    out = np.where(p >= 1.0, 1.0, 0.0)
    inner = (p > 0.0) & (p < 1.0)
    if inner.any():
        out[inner] = _binom_sf()(float(k - 1), n, p[inner])
    return out


def _binom_sf() -> Callable[[float, int, np.ndarray], np.ndarray]:
    """``scipy.stats.binom.sf`` for k, n inside the support (its private ufunc when this scipy has it)."""
    try:
        from scipy.special._ufuncs import _binom_sf  # the same Boost routine binom.sf calls
    except ImportError:  # pragma: no cover - another scipy: the public, slower way
        from scipy.stats import binom

        return lambda k, n, p: np.asarray(binom.sf(k, n, p))
    return lambda k, n, p: np.clip(_binom_sf(k, n, p), 0.0, 1.0)


def cost_usd(sc: Scenario, failed: int, late: int, down_min: float) -> Cost:
    """Dollars lost: failed and late requests, and pipeline minutes while the service is not up."""
    cfg = sc.monitoring.cost
    failed_usd, late_usd = failed * cfg.failed_request_usd, late * cfg.late_request_usd
    pipeline_usd = down_min * cfg.pipeline_minute_usd
    total_usd = sum((failed_usd, late_usd, pipeline_usd))
    return Cost(failed_usd, late_usd, pipeline_usd, total_usd, failed, late, down_min)


def measured_windows(sc: Scenario, series: dict[str, np.ndarray]) -> np.ndarray:
    """Windows whose middle lies after warm-up (as ``uptime`` counts them)."""
    middle_s = series["start_s"] + 0.5 * (series["end_s"] - series["start_s"])
    return np.asarray(middle_s >= sc.warmup)


def down_windows(sc: Scenario, series: dict[str, np.ndarray]) -> np.ndarray:
    """Measured windows whose availability is below the SLO (or that answered nobody who asked)."""
    availability = series["availability"]
    up = np.where(np.isnan(availability), series["offered"] == 0, availability >= sc.slo.availability)
    return np.asarray(~up & measured_windows(sc, series))


def incident_windows(down: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """Groups ``(first, last)`` of down windows; up gaps shorter than ``gap`` windows are merged."""
    idx = np.flatnonzero(down)
    if idx.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(idx) > gap)
    starts = [int(idx[0]), *(int(idx[c + 1]) for c in cuts)]
    ends = [*(int(idx[c]) for c in cuts), int(idx[-1])]
    return list(zip(starts, ends, strict=True))


def monitoring_columns(sc: Scenario, seed: int, series: dict[str, np.ndarray]) -> dict[str, Any]:
    """Extra per-window columns for ``timeseries.csv``: error rate, reports, states shown."""
    horizon_s = float(series["end_s"][-1]) if series["end_s"].size else sc.duration
    return {
        "error_rate": error_rate(series),
        "outage_reports": outage_reports(sc.monitoring.outage_reports, series, seed),
        "status_monitor": observe(sc.monitoring.monitor, series, horizon_s).shown,
        "status_page": observe(sc.monitoring.status_page, series, horizon_s).shown,
    }
