"""``summary.json`` as types: one run's figures, read by the comparison, the capacity targets and the tables.

``summarize()`` (``sim.analysis.metrics``) builds a ``Summary``; ``Summary.to_dict`` gives the
``summary.json`` document, key for key in its order, and ``Summary.from_dict`` reads one back (a run
folder's file, a sweep's saved record) so that writing ``to_dict()`` again gives the same bytes. Every
numeric figure is also reachable by its dotted name (``latency_s.p99``), the vocabulary of
``sim.analysis.metric_registry``. The incident timeline (``TimelineEntry``), the status posts
(``StatusPost``) and the ``reference`` key (``ReferenceComparison``: a run over seeds beside a reported
incident) are typed too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Self

from sim.analysis.metric_registry import lookup

__all__ = [
    "ClassFigures",
    "Cost",
    "Incident",
    "Llm",
    "NarrativeLine",
    "Observer",
    "OutageReports",
    "ReferenceComparison",
    "ReferenceRow",
    "ReportedDays",
    "Requests",
    "SeedCodes",
    "SeedValues",
    "SimulatedDays",
    "Stats",
    "StatusPost",
    "Summary",
    "SummaryError",
    "TimelineEntry",
    "TokenRates",
    "Trigger",
    "flatten",
]


class SummaryError(ValueError):
    """A summary document that does not have the shape of ``summary.json`` (the message names the key)."""


def _mapping(data: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise SummaryError(f"{where}: expected an object (got {type(data).__name__})")
    return data


Parsers = dict[str, Callable[[Any, str], Any]]


class _Record:
    """A fixed set of keys in a fixed order; ``_NESTED`` names the fields read by a parser of their own."""

    _NESTED: ClassVar[Parsers] = {}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Self:
        """The record from its JSON object; SummaryError names a missing or unexpected key."""
        data = _mapping(data, where)
        names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
        missing = [n for n in names if n not in data]
        extra = [k for k in data if k not in names]
        if missing or extra:
            what = f"missing {', '.join(missing)}" if missing else f"unexpected {', '.join(extra)}"
            raise SummaryError(f"{where}: {what}")
        values = {n: cls._NESTED[n](data[n], f"{where}.{n}") if n in cls._NESTED else data[n] for n in names}
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, keys in ``summary.json``'s order."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


def _plain(value: Any) -> Any:
    if isinstance(value, _Record):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _optional(parse: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    return lambda data, where: None if data is None else parse(data, where)


def _by_name(parse: Callable[[Any, str], Any]) -> Callable[[Any, str], dict[str, Any]]:
    return lambda data, where: {k: parse(v, f"{where}.{k}") for k, v in _mapping(data, where).items()}


def _list(data: Any, where: str) -> list[Any]:
    if not isinstance(data, list):
        raise SummaryError(f"{where}: expected a list (got {type(data).__name__})")
    return data


def _each(parse: Callable[[Any, str], Any]) -> Callable[[Any, str], tuple[Any, ...]]:
    return lambda data, where: tuple(parse(item, f"{where}.{i}") for i, item in enumerate(_list(data, where)))


def _values(data: Any, where: str) -> tuple[Any, ...]:
    return tuple(_list(data, where))


@dataclass(frozen=True)
class Stats(_Record):
    """Mean, percentiles and max of a set of values (all None when the set is empty)."""

    mean: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    max: float | None


@dataclass(frozen=True)
class Requests(_Record):
    """User requests arrived in the measurement period and what became of them."""

    offered: int
    attempts: int
    succeeded: int
    failed: int
    in_flight: int
    regenerated: int


@dataclass(frozen=True)
class TokenRates(_Record):
    """Prompt and output tokens of successful requests per second."""

    input: float
    output: float


@dataclass(frozen=True)
class Trigger(_Record):
    """A fault or surge: whether service failed, when it recovered, whether it stayed failed."""

    kind: str
    target: str
    start_s: float
    end_s: float
    failed: bool
    baseline_goodput_ratio: float
    recovery_s: float | None
    metastable: bool | None


@dataclass(frozen=True)
class Llm(_Record):
    """The LLM service model's own figures."""

    preemptions: int
    batch_size_mean: float | None
    kv_cache_utilization_mean: float | None
    kv_cache_utilization_max: float | None


@dataclass(frozen=True)
class ClassFigures(_Record):
    """One request class: offered, availability, latency and TTFT."""

    _NESTED: ClassVar[Parsers] = {"latency_s": Stats.from_dict, "ttft_s": Stats.from_dict}

    offered: int
    availability: float | None
    latency_s: Stats
    ttft_s: Stats


@dataclass(frozen=True)
class TimelineEntry(_Record):
    """One line of the incident timeline: a trigger, an annotation, the impact or a status post."""

    at_s: float
    at: str  # clock time (ISO-8601)
    source: str  # trigger, an annotation's kind, impact, monitor or official
    label: str


@dataclass(frozen=True)
class StatusPost(_Record):
    """One post of a status page: the state it shows from ``at_s`` on."""

    at_s: float
    at: str  # clock time (ISO-8601)
    state: str
    note: str


@dataclass(frozen=True)
class Incident(_Record):
    """Impact as users saw it: onset, recovery, peak error rate, and the timeline of the day."""

    _NESTED: ClassVar[Parsers] = {"timeline": _each(TimelineEntry.from_dict)}

    onset_s: float | None
    end_s: float | None
    time_to_recover_s: float | None
    incidents: int
    down_windows: int
    peak_error_rate: float | None
    peak_error_rate_at_s: float | None
    timeline: tuple[TimelineEntry, ...]


@dataclass(frozen=True)
class Observer(_Record):
    """A status page (the independent monitor or the official one): its episode around the onset, its posts."""

    _NESTED: ClassVar[Parsers] = {"timeline": _each(StatusPost.from_dict)}

    detected_s: float | None
    acknowledged_s: float | None
    resolved_s: float | None
    time_to_detect_s: float | None
    time_to_acknowledge_s: float | None
    time_to_resolve_s: float | None
    worst_state: str
    episodes: int
    timeline: tuple[StatusPost, ...]


@dataclass(frozen=True)
class OutageReports(_Record):
    """User outage reports (a Downdetector-like count)."""

    _NESTED: ClassVar[Parsers] = {"per_day": _values}

    total: int
    per_day: tuple[int, ...]
    during_incident: int
    peak_per_window: int
    peak_at_s: float | None
    background_per_day: float


@dataclass(frozen=True)
class Cost(_Record):
    """The cost of the run's failures in dollars."""

    failed_requests_usd: float
    late_requests_usd: float
    pipeline_usd: float
    total_usd: float
    failed: int
    late: int
    down_min: float


@dataclass(frozen=True)
class SeedValues(_Record):
    """A simulated figure over seeds: each seed's value (None where it did not happen), mean and range,
    and the text a table shows."""

    _NESTED: ClassVar[Parsers] = {"per_seed": _values}

    per_seed: tuple[float | None, ...]
    mean: float | None
    min: float | None
    max: float | None
    shown: str


@dataclass(frozen=True)
class SeedCodes(_Record):
    """The primary error codes over seeds: each seed's, the most common and on how many seeds."""

    _NESTED: ClassVar[Parsers] = {"per_seed": _values}

    per_seed: tuple[str | None, ...]
    most_common: str | None
    seeds_with_it: int
    shown: str


def _seed_figures(data: Any, where: str) -> SeedValues | SeedCodes:
    return (SeedCodes if "most_common" in _mapping(data, where) else SeedValues).from_dict(data, where)


@dataclass(frozen=True)
class ReportedDays(_Record):
    """A figure as the account reported it (text as quoted) for the incident day and an ordinary day."""

    incident: str
    baseline: str | None


@dataclass(frozen=True)
class SimulatedDays(_Record):
    """A figure as simulated, over seeds, on the incident day and on the ordinary day (the baseline)."""

    _NESTED: ClassVar[Parsers] = {"incident": _seed_figures, "baseline": _seed_figures}

    incident: SeedValues | SeedCodes
    baseline: SeedValues | SeedCodes


@dataclass(frozen=True)
class ReferenceRow(_Record):
    """One reported figure beside the simulated ones."""

    _NESTED: ClassVar[Parsers] = {"reported": ReportedDays.from_dict, "simulated": SimulatedDays.from_dict}

    metric: str
    label: str
    source: str
    reported: ReportedDays
    simulated: SimulatedDays


@dataclass(frozen=True)
class NarrativeLine(_Record):
    """A line of the account's timeline beside the simulated event that answers it (first seed)."""

    reported: str
    event: str
    at_s: float | None
    clock: str | None
    simulated: str


@dataclass(frozen=True)
class ReferenceComparison(_Record):
    """The ``reference`` key: the scenario's reported figures beside the simulated ones over seeds."""

    _NESTED: ClassVar[Parsers] = {
        "columns": _values,
        "seeds": _values,
        "rows": _each(ReferenceRow.from_dict),
        "narrative": _each(NarrativeLine.from_dict),
    }

    source: str
    columns: tuple[str, ...]
    seeds: tuple[int, ...]
    rows: tuple[ReferenceRow, ...]
    narrative: tuple[NarrativeLine, ...]


_OPTIONAL_KEYS = ("start", "timezone", "llm", "classes", "incident", "status_page", "outage_reports", "cost")
"""Keys a summary.json may lack: written before they existed, or for a run without the feature (no LLM
cluster, one request class)."""


@dataclass(frozen=True)
class Summary(_Record):
    """One run's ``summary.json`` (times in s, rates per s, shares in 0..1).

    ``absent`` lists the optional keys the document did not hold: left out when written back while
    still None (a ``reference`` set after the run is written).
    """

    _NESTED: ClassVar[Parsers] = {
        "requests": Requests.from_dict,
        "latency_s": Stats.from_dict,
        "wait_s": Stats.from_dict,
        "ttft_s": Stats.from_dict,
        "itl_s": Stats.from_dict,
        "tpot_s": _optional(Stats.from_dict),
        "tokens_per_s": TokenRates.from_dict,
        "triggers": _each(Trigger.from_dict),
        "llm": _optional(Llm.from_dict),
        "classes": _optional(_by_name(ClassFigures.from_dict)),
        "incident": _optional(Incident.from_dict),
        "status_page": _optional(_by_name(Observer.from_dict)),
        "outage_reports": _optional(OutageReports.from_dict),
        "cost": _optional(Cost.from_dict),
        "reference": _optional(ReferenceComparison.from_dict),
    }

    scenario: str
    seed: int
    strategy: str
    duration_s: float
    warmup_s: float
    start: str | None
    timezone: str | None
    requests: Requests
    errors_by_code: dict[str, int]
    availability: float | None
    uptime: float | None
    latency_s: Stats
    wait_s: Stats
    ttft_s: Stats
    itl_s: Stats
    tpot_s: Stats | None
    tokens_per_s: TokenRates
    throughput_rps: float
    goodput_rps: float
    retry_amplification: float | None
    utilization: float
    metastable: bool | None
    triggers: tuple[Trigger, ...]
    llm: Llm | None
    classes: dict[str, ClassFigures] | None
    incident: Incident | None
    status_page: dict[str, Observer] | None
    outage_reports: OutageReports | None
    cost: Cost | None
    wall_s: float
    events: int
    requests_per_wall_s: float | None
    reference: ReferenceComparison | None = None
    absent: frozenset[str] = field(default=frozenset(("reference",)), compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: Any, where: str = "summary.json") -> Self:
        """The typed summary of a ``summary.json`` document; SummaryError names what is wrong."""
        data = dict(_mapping(data, where))
        absent = frozenset(k for k in (*_OPTIONAL_KEYS, "reference") if k not in data)
        names = [f.name for f in fields(cls) if f.name != "absent"]
        extra = [k for k in data if k not in names]
        missing = [k for k in names if k not in data and k not in absent]
        if missing or extra:
            what = f"missing {', '.join(missing)}" if missing else f"unexpected {', '.join(extra)}"
            raise SummaryError(f"{where}: {what}")
        if list(data) != [k for k in names if k not in absent]:
            raise SummaryError(f"{where}: keys out of summary.json's order")
        values: dict[str, Any] = dict.fromkeys(absent)
        values.update({k: cls._NESTED[k](data[k], f"{where}.{k}") if k in cls._NESTED else data[k] for k in data})
        return cls(**values, absent=absent)

    @classmethod
    def from_json(cls, path: Path) -> Self:
        """Read a run folder's ``summary.json`` (or any file of that shape) back."""
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SummaryError(f"{path}: cannot read it ({exc})") from None
        return cls.from_dict(data, str(path))

    def to_dict(self) -> dict[str, Any]:
        """The ``summary.json`` document, keys in the order ``summarize()`` writes them."""
        return {
            f.name: _plain(getattr(self, f.name))
            for f in fields(self)
            if f.name != "absent" and not (f.name in self.absent and getattr(self, f.name) is None)
        }

    @cached_property
    def figures(self) -> dict[str, float]:
        """Every numeric figure by dotted name (booleans as 0/1, undefined ones left out)."""
        return flatten(self.to_dict())

    def figure(self, name: str) -> float | None:
        """The figure ``name`` (``latency_s.p99``); None when undefined in this run, or 0 when the registry
        says its absence counts 0 (an error code that never occurred)."""
        if name in self.figures:
            return self.figures[name]
        metric = lookup(name)
        return 0.0 if metric is not None and metric.absent_is_zero else None


def flatten(document: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric figures of a summary document by dotted name (booleans as 0/1, None left out)."""
    out: dict[str, float] = {}
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, bool) or (
            isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value))
        ):
            out[name] = float(value)
    return out
