"""Records to the contract's figures: the typed ``Summary`` (``summary.json``) and per-window time series.

Shared by the simulator and the load-test side: both hand over per-request and per-attempt arrays.
"""

from __future__ import annotations

import math

import numpy as np

from sim.analysis.incident import assess
from sim.analysis.summary import ClassFigures, Llm, Requests, Stats, Summary, TokenRates, Trigger
from sim.engine.records import SimResult
from sim.scenario import Scenario

__all__ = ["PERCENTILES", "stats", "summarize", "timeseries"]

PERCENTILES = (50, 90, 95, 99)


def stats(values: np.ndarray) -> Stats:
    """Mean, percentiles and max of ``values`` (all None when empty)."""
    if values.size == 0:
        return Stats(None, None, None, None, None, None)
    p50, p90, p95, p99 = (float(v) for v in np.percentile(values, PERCENTILES))
    return Stats(float(values.mean()), p50, p90, p95, p99, float(values.max()))


def _measured(result: SimResult) -> np.ndarray:
    """Mask of user requests inside the measurement period (arrived at or after warm-up)."""
    sc = result.scenario
    return (result.arrival_s >= sc.warmup) & (result.arrival_s < sc.duration)


def summarize(result: SimResult, series: dict[str, np.ndarray] | None = None) -> Summary:
    """The ``summary.json`` figures of one run (times in s, rates per s, fractions in 0..1).

    ``series`` is ``timeseries(result)`` when the caller has it already.
    """
    sc = result.scenario
    series = timeseries(result, shown=False) if series is None else series  # first: its temporaries go before ours
    mask = _measured(result)
    codes = result.req_code[mask]
    offered = int(mask.sum())
    ok = codes == 200
    succeeded = int(ok.sum())
    failed_codes = codes[(codes != 200) & (codes != 0)]
    latency = (result.req_end_s - result.arrival_s)[mask][ok]
    att = result.attempts
    att_mask = mask[att["req"]]
    wait = (att["start_s"] - att["sent_s"])[att_mask]
    measured_s = sc.duration - sc.warmup
    tokens = token_figures(result)
    goodput = int((within_slo(result, tokens) & mask).sum())
    triggers = recovery(sc, series)
    llm, classes = _llm_figures(result, series), _class_figures(result, mask, tokens)
    watched = assess(sc, result.seed, series, int(failed_codes.size), succeeded - goodput)
    return Summary(
        scenario=sc.name,
        seed=result.seed,
        strategy=result.strategy,
        duration_s=sc.duration,
        warmup_s=sc.warmup,
        start=sc.start.isoformat(),
        timezone=sc.timezone,
        requests=Requests(
            offered=offered,
            attempts=int(att_mask.sum()),
            succeeded=succeeded,
            failed=int(failed_codes.size),
            in_flight=int((codes == 0).sum()),
            regenerated=int((result.req_origin[mask] >= 0).sum()),
        ),
        errors_by_code={str(c): int(n) for c, n in zip(*np.unique(failed_codes, return_counts=True), strict=True)},
        availability=succeeded / offered if offered else None,
        uptime=_uptime(sc, series),
        latency_s=stats(latency),
        wait_s=stats(wait[~np.isnan(wait)]),
        ttft_s=stats(_known(tokens["ttft_s"][mask & ok_all(result)])),
        itl_s=stats(_known(tokens["itl_s"][mask & ok_all(result)])),
        tpot_s=_tpot(result, tokens, mask),
        tokens_per_s=TokenRates(
            input=float(result.prompt_tokens[mask & ok_all(result)].sum()) / measured_s,
            output=float(result.output_tokens[mask & ok_all(result)].sum()) / measured_s,
        ),
        throughput_rps=succeeded / measured_s,
        goodput_rps=goodput / measured_s,
        retry_amplification=int(att_mask.sum()) / offered if offered else None,
        utilization=_utilization(sc, series),
        metastable=triggers[-1].metastable if triggers else None,
        triggers=tuple(triggers),
        llm=llm,
        classes=classes,
        incident=watched.incident,
        status_page=watched.status_page,
        outage_reports=watched.outage_reports,
        cost=watched.cost,
        wall_s=result.wall_s,
        events=result.events,
        requests_per_wall_s=result.arrival_s.size / result.wall_s if result.wall_s > 0 else None,
        absent=frozenset(("reference", *(("llm",) if llm is None else ()), *(("classes",) if classes is None else ()))),
    )


def _tpot(result: SimResult, tokens: dict[str, np.ndarray], mask: np.ndarray) -> Stats | None:
    """Time per output token after the first, per successful streamed user request:
    (latency - TTFT) / (output tokens - 1); null when the service model produces no tokens."""
    if not any(c.service.kind == "llm" for c in result.scenario.clusters):
        return None
    won = mask & ok_all(result) & ~np.isnan(tokens["ttft_s"]) & (result.output_tokens > 1)
    first_s = result.arrival_s[won] + tokens["ttft_s"][won]
    return stats((result.req_end_s[won] - first_s) / (result.output_tokens[won] - 1))


def _known(values: np.ndarray) -> np.ndarray:
    out: np.ndarray = values[~np.isnan(values)]
    return out


def ok_all(result: SimResult) -> np.ndarray:
    """Mask of user requests that finally succeeded."""
    ok: np.ndarray = result.req_code == 200
    return ok


def token_figures(result: SimResult) -> dict[str, np.ndarray]:
    """Per user request: TTFT (arrival to first token of the answer that succeeded) and mean
    inter-token latency of that answer; NaN where the service does not stream tokens or it failed."""
    n = result.arrival_s.size
    att = result.attempts
    won = (att["code"] == 200) & ~np.isnan(att["first_token_s"])
    if not won.any():  # no streamed answers: a read-only NaN view instead of two full arrays
        nothing = np.broadcast_to(np.float64(np.nan), (n,))
        return {"ttft_s": nothing, "itl_s": nothing}
    ttft = np.full(n, np.nan)
    itl = np.full(n, np.nan)
    req = att["req"][won]
    first = att["first_token_s"][won]
    ttft[req] = first - result.arrival_s[req]
    tokens_after = result.output_tokens[req] - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        itl[req] = np.where(tokens_after > 0, (att["server_end_s"][won] - first) / np.maximum(tokens_after, 1), np.nan)
    return {"ttft_s": ttft, "itl_s": itl}


def within_slo(result: SimResult, tokens: dict[str, np.ndarray]) -> np.ndarray:
    """Mask of user requests that succeeded within every SLO the scenario sets (latency, TTFT, ITL)."""
    slo = result.scenario.slo
    good = ok_all(result)
    with np.errstate(invalid="ignore"):
        if slo.latency is not None:
            good &= result.req_end_s - result.arrival_s <= slo.latency
        if slo.ttft is not None:
            good &= np.nan_to_num(tokens["ttft_s"], nan=0.0) <= slo.ttft
        if slo.itl is not None:
            good &= np.nan_to_num(tokens["itl_s"], nan=0.0) <= slo.itl
    return good


def _class_figures(
    result: SimResult, mask: np.ndarray, tokens: dict[str, np.ndarray]
) -> dict[str, ClassFigures] | None:
    """Per request class (when there are several): offered, availability, latency and TTFT."""
    names = sorted(set(result.class_names))
    if len(names) < 2:
        return None
    out = {}
    ok = ok_all(result)
    latency = result.req_end_s - result.arrival_s
    for name in names:
        mine = mask & _of_class(result, name)[result.klass]
        offered = int(mine.sum())
        out[name] = ClassFigures(
            offered=offered,
            availability=int((mine & ok).sum()) / offered if offered else None,
            latency_s=stats(latency[mine & ok]),
            ttft_s=stats(_known(tokens["ttft_s"][mine & ok])),
        )
    return out


def _of_class(result: SimResult, name: str) -> np.ndarray:
    """Per class index, whether it is ``name`` (a migrated twin counts as its class): index it by ``klass``."""
    return np.array([n == name for n in result.class_names], dtype=bool)


def _llm_figures(result: SimResult, series: dict[str, np.ndarray]) -> Llm | None:
    """The LLM service model's own figures (only when a cluster runs it)."""
    if "kv_cache_utilization" not in series:
        return None
    sc = result.scenario
    measured = series["start_s"] >= sc.warmup
    kv = series["kv_cache_utilization"][measured]
    return Llm(
        preemptions=int(result.counters.get("preemptions", 0)),
        batch_size_mean=float(np.nanmean(series["batch_size"][measured])) if measured.any() else None,
        kv_cache_utilization_mean=float(np.nanmean(kv)) if kv.size and not np.isnan(kv).all() else None,
        kv_cache_utilization_max=float(np.nanmax(kv)) if kv.size and not np.isnan(kv).all() else None,
    )


def timeseries(result: SimResult, *, shown: bool = True) -> dict[str, np.ndarray]:
    """Per-window columns over ``[0, duration)``: counts by time of event, gauges time-averaged.

    ``shown=False`` leaves out what only ``timeseries.csv`` and the plots show (TTFT p95, the per-class
    p99s): every column ``summarize()`` reads is there, with the same values.
    """
    sc = result.scenario
    start = result.windows["start_s"]
    n = start.size
    end = np.minimum(start + sc.window, sc.duration)

    def count(times: np.ndarray) -> np.ndarray:
        idx = np.floor(times[(times >= 0) & (times < sc.duration)] / sc.window).astype(np.int64)
        return np.bincount(idx, minlength=n)[:n]

    done = result.req_code != 0
    ok = result.req_code == 200
    cols: dict[str, np.ndarray] = {"start_s": start, "end_s": end}
    cols["offered"] = count(result.arrival_s)
    cols["attempts"] = count(result.attempts["sent_s"])
    cols["succeeded"] = count(result.req_end_s[ok])
    tokens = token_figures(result)
    cols["goodput"] = count(result.req_end_s[within_slo(result, tokens)])  # successes within every SLO
    cols["failed"] = count(result.req_end_s[done & ~ok])
    for code in sorted(set(np.unique(result.req_code[done & ~ok]).tolist())):
        cols[f"errors_{code}"] = count(result.req_end_s[result.req_code == code])
    completed = cols["succeeded"] + cols["failed"]
    with np.errstate(invalid="ignore", divide="ignore"):
        cols["availability"] = np.where(completed > 0, cols["succeeded"] / np.maximum(completed, 1), np.nan)
    cols.update(_window_latency(result, ok, n))
    for name in (
        "queue_depth",
        "busy_slots",
        "healthy_servers",
        "routable_servers",
        "ejected_servers",
        "router_in_flight",
    ):
        cols[name] = result.windows[name]
    cols["utilization"] = result.windows["busy_slots"] / sc.total_slots
    if "kv_cache_tokens" in result.windows:
        cols.update(_llm_columns(result, tokens, n, shown))
    if shown:
        cols.update(_class_columns(result, tokens, n))
    cols["active_faults"] = np.zeros(n, dtype=np.int64)  # faults in force at some instant of the window
    for fault in sc.faults:
        cols["active_faults"] += (fault.at < end) & (fault.end_s > start)
    return cols


def _llm_columns(result: SimResult, tokens: dict[str, np.ndarray], n: int, shown: bool) -> dict[str, np.ndarray]:
    """Batch size (sequences per server up), KV-cache use, output tokens and (``shown``) TTFT p95 per window."""
    sc = result.scenario
    capacity = sum(
        c.max_servers * c.service.kv_cache_tokens for c in sc.clusters if c.service.kv_cache_tokens is not None
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        batch = result.windows["busy_slots"] / result.windows["healthy_servers"]
    kv = result.windows["kv_cache_tokens"] / capacity if capacity else np.full(n, np.nan)
    ok = ok_all(result)
    end_s = result.req_end_s[ok]
    inside = end_s < sc.duration
    idx = np.floor(end_s[inside] / sc.window).astype(np.int64)
    out_tokens = np.bincount(idx, weights=result.output_tokens[ok][inside], minlength=n)[:n]
    start = result.windows["start_s"]
    lengths = np.minimum(start + sc.window, sc.duration) - start
    cols = {"batch_size": batch, "kv_cache_utilization": kv}
    if shown:
        ttft = tokens["ttft_s"][ok][inside]
        known = ~np.isnan(ttft)
        cols["ttft_p95_s"] = _window_percentiles(idx[known], ttft[known], n, (95,))[95]
    cols["output_tokens_per_s"] = out_tokens / lengths
    return cols


def _class_columns(result: SimResult, tokens: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """Per request class (when there are several): latency and TTFT p99 of the window's successes."""
    names = sorted(set(result.class_names))
    if len(names) < 2:
        return {}
    sc = result.scenario
    ok = ok_all(result) & (result.req_end_s < sc.duration)
    idx = np.floor(result.req_end_s[ok] / sc.window).astype(np.int64)
    latency = (result.req_end_s - result.arrival_s)[ok]
    ttft = tokens["ttft_s"][ok]
    klass = result.klass[ok]
    cols: dict[str, np.ndarray] = {}
    for name in names:
        mine = _of_class(result, name)[klass]
        cols[f"latency_p99_s__{name}"] = _window_percentiles(idx[mine], latency[mine], n, (99,))[99]
        streamed = mine & ~np.isnan(ttft)
        if streamed.any():
            cols[f"ttft_p99_s__{name}"] = _window_percentiles(idx[streamed], ttft[streamed], n, (99,))[99]
    return cols


def _window_percentiles(idx: np.ndarray, values: np.ndarray, n: int, ps: tuple[int, ...]) -> dict[int, np.ndarray]:
    """Percentiles ``ps`` of ``values`` grouped by window index ``idx`` (NaN for empty windows).

    Every window at once, bit for bit what ``np.percentile(chunk, ps)`` (linear method) gives for each
    window's chunk: values sorted by window, then within each window (NaN last, as np.percentile has
    them), then numpy's own index and interpolation arithmetic on every window together.
    """
    order = np.argsort(idx, kind="stable")
    idx, values = idx[order], values[order]
    bounds = np.searchsorted(idx, np.arange(n + 1))
    for w in np.flatnonzero(np.diff(bounds) > 1).tolist():  # in place; faster than one lexsort by far
        values[bounds[w] : bounds[w + 1]].sort()
    first, count = bounds[:-1], np.diff(bounds)
    full = count > 0
    first, count = first[full], count[full]
    last = first + count - 1
    spoilt = np.isnan(values[last])  # a window holding a NaN has NaN percentiles
    out = {p: np.full(n, np.nan) for p in ps}
    for p, q in zip(ps, np.true_divide(np.asarray(ps), 100), strict=True):
        virtual = (count - 1) * q  # numpy's "linear" virtual index
        below = np.floor(virtual)
        top = virtual >= count - 1  # numpy takes the last value there (and its gamma from index -1)
        gamma = virtual - np.where(top, -1.0, below)
        low = np.where(top, last, first + below.astype(np.intp))
        high = np.where(top, last, low + 1)
        a, b = values[low], values[high]
        diff_b_a = b - a  # numpy's _lerp: from the nearer end, so that t = 1 gives b exactly
        value = np.where(gamma >= 0.5, b - diff_b_a * (1 - gamma), a + diff_b_a * gamma)
        value[spoilt] = np.nan
        out[p][full] = value
    return out


def _window_latency(result: SimResult, ok: np.ndarray, n: int) -> dict[str, np.ndarray]:
    sc = result.scenario
    end_s = result.req_end_s[ok]
    inside = end_s < sc.duration
    idx = np.floor(end_s[inside] / sc.window).astype(np.int64)
    latency = (end_s - result.arrival_s[ok])[inside]
    by_p = _window_percentiles(idx, latency, n, (50, 95, 99))
    return {f"latency_p{p}_s": by_p[p] for p in (50, 95, 99)}


def _window_up(series: dict[str, np.ndarray], threshold: float) -> np.ndarray:
    """A window is up when its availability meets the threshold; with no answers, when nobody asked."""
    availability = series["availability"]
    return np.where(np.isnan(availability), series["offered"] == 0, availability >= threshold)


def _uptime(sc: Scenario, series: dict[str, np.ndarray]) -> float | None:
    measured = series["start_s"] + 0.5 * (series["end_s"] - series["start_s"]) >= sc.warmup
    if not measured.any():
        return None
    return float(_window_up(series, sc.slo.availability)[measured].mean())


def _utilization(sc: Scenario, series: dict[str, np.ndarray]) -> float:
    overlap = np.clip(np.minimum(series["end_s"], sc.duration) - np.maximum(series["start_s"], sc.warmup), 0, None)
    return float((series["busy_slots"] * overlap).sum() / (sc.total_slots * overlap.sum()))


def recovery(sc: Scenario, series: dict[str, np.ndarray]) -> list[Trigger]:
    """Per trigger (a fault or a surge), whether service failed, when it recovered, and if it stayed failed.

    Recovered means a window starting after the trigger ended is up (availability meets the SLO)
    and its goodput per answered request is back to at least 90% of what it was before the
    trigger. A trigger is metastable when service failed during it (or just after) and no window
    within ``slo.recovery`` after its end recovered. When the run ends sooner than that and
    service had not recovered yet, the verdict is None (undetermined).
    """
    up = _window_up(series, sc.slo.availability)
    start = series["start_s"]
    answered = series["succeeded"] + series["failed"]
    with np.errstate(invalid="ignore", divide="ignore"):
        good_ratio = np.where(answered > 0, series["goodput"] / np.maximum(answered, 1), np.nan)
    out = []
    triggers: list[tuple[str, str, float, float]] = [(f.kind, f.target, f.at, f.end_s) for f in sc.faults]
    triggers += [("surge", f"x{s.factor:g}", s.at, s.end_s) for s in sc.workload.surges]
    for kind, target, at_s, end_s in sorted(triggers, key=lambda t: t[3]):
        during = (series["end_s"] > at_s) & (start < end_s + sc.window)
        failed = bool((~up[during]).any())
        before = (start >= sc.warmup) & (series["end_s"] <= at_s) & ~np.isnan(good_ratio)
        baseline = float(np.mean(good_ratio[before])) if before.any() else 0.0
        back = np.nan_to_num(good_ratio, nan=1.0) >= 0.9 * baseline
        after = np.nonzero((start >= end_s) & up & back)[0]
        recovery_s = float(start[after[0]] - end_s) if after.size else math.inf
        if not failed:
            recovery_s = 0.0
        out.append(
            Trigger(
                kind=kind,
                target=target,
                start_s=at_s,
                end_s=end_s,
                failed=failed,
                baseline_goodput_ratio=baseline,
                recovery_s=recovery_s if math.isfinite(recovery_s) else None,
                metastable=_verdict(failed, recovery_s, sc.duration - end_s, sc.slo.recovery),
            )
        )
    return out


def _verdict(failed: bool, recovery_s: float, observed_s: float, budget_s: float) -> bool | None:
    if not failed or recovery_s <= budget_s:
        return False
    return True if observed_s >= budget_s else None
