"""``orchsim report DIR``: one self-contained HTML file from a run, compare, validate or calibrate output folder.

Plots are embedded as base64 PNG data URIs and the status-page strip as inline SVG, so the file
opens in any browser without a server or network access. Reads output files only.
"""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from sim.analysis.metric_registry import UNIT_NAMES, unit_of
from sim.analysis.summary import ReferenceComparison, Summary, TimelineEntry
from sim.clock import Clock, format_offset
from sim.output.out_folder import read_run
from sim.output.outputs import write_atomic
from sim.output.reference_output import narrative_html, reference_html
from sim.output.tables import moment, summary_clock, summary_rows, timeline_rows

__all__ = ["REPORT_FILE", "FolderData", "ReportError", "read_folder", "render", "write_report"]

REPORT_FILE = "report.html"
_FIRST_PLOTS = ("incident.png", "load.png", "errors.png", "latency.png", "queue.png", "availability.png")
_STATE_COLOURS = {
    "operational": "#2e7d32",
    "degraded": "#f9a825",
    "partial_outage": "#ef6c00",
    "major_outage": "#c62828",
    "resolved": "#1565c0",
}
_COMPARE_METRICS = (  # a figure's dotted name and its heading; the unit comes from the metric registry
    ("availability", "availability"),
    ("uptime", "uptime"),
    ("latency_s.p99", "latency p99"),
    ("goodput_rps", "goodput"),
    ("incident.time_to_recover_s", "time to recover"),
    ("status_page.official.time_to_acknowledge_s", "status page acknowledges"),
    ("outage_reports.total", "outage reports"),
    ("cost.total_usd", "cost"),
)
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5em 0; } img { max-width: 100%; height: auto; }
.legend span { display: inline-block; padding: 0.1em 0.5em; margin-right: 0.4em; color: #fff; }
"""


class ReportError(Exception):
    """The folder cannot be reported on; the message is one line naming the file."""


@dataclass
class FolderData:
    """What an output folder holds (each part optional; at least one of the three JSON documents)."""

    folder: Path
    summary: Summary | None = None
    comparison: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    series: dict[str, list[str]] = field(default_factory=dict)
    images: list[Path] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # plots run.json does not list: another run's


def read_folder(folder: Path) -> FolderData:
    """Load ``summary.json``, ``comparison.json``, ``validation.json``, ``calibration.json``,
    ``timeseries.csv`` and PNGs of ``folder``."""
    if not folder.is_dir():
        raise ReportError(f"{folder}: no such folder")
    data = FolderData(folder)
    summary = _read_json(folder / "summary.json")
    data.comparison = _read_json(folder / "comparison.json")
    data.validation = _read_json(folder / "validation.json")
    data.calibration = _read_json(folder / "calibration.json")
    if all(d is None for d in (summary, data.comparison, data.validation, data.calibration)):
        raise ReportError(
            f"{folder}: not an output folder of run, compare, validate or calibrate "
            "(no summary.json, comparison.json, validation.json or calibration.json)"
        )
    if summary is not None:
        try:
            data.summary = Summary.from_dict(summary)
        except (TypeError, ValueError) as exc:
            raise ReportError(f"summary.json: missing or malformed figure ({exc})") from None
    data.series = _read_csv(folder / "timeseries.csv")
    pngs = sorted(folder.glob("*.png"))
    run = read_run(folder)
    if run is not None and isinstance(run.get("files"), list):
        data.left_out = [p.name for p in pngs if p.name not in run["files"]]
        pngs = [p for p in pngs if p.name in run["files"]]
    data.images = sorted(pngs, key=lambda p: (p.name not in _FIRST_PLOTS, _rank(p.name), p.name))
    return data


def _rank(name: str) -> int:
    return _FIRST_PLOTS.index(name) if name in _FIRST_PLOTS else 0


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: cannot read JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ReportError(f"{path}: expected a JSON object (got {type(document).__name__})")
    return document


def _read_csv(path: Path) -> dict[str, list[str]]:
    if not path.exists():
        return {}
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReportError(f"{path}: cannot read CSV ({exc})") from None
    return {name: [row.get(name) or "" for row in rows] for name in (rows[0] if rows else {})}


def write_report(folder: Path, tz: str | None = None) -> tuple[Path, list[str]]:
    """Write ``folder/report.html`` atomically; its path, and the plots left out as another run's; times
    in zone ``tz`` (default the run's)."""
    data = read_folder(folder)
    path = folder / REPORT_FILE
    write_atomic(path, render(data, tz))
    return path, data.left_out


def render(data: FolderData, tz: str | None = None) -> str:
    """The whole HTML document; instants in clock time (zone ``tz``, default the run's) with their offsets."""
    name = _name(data)
    parts = [f"<h1>orchsim report: {escape(name)}</h1>"]
    if data.summary is not None:
        parts += _run_sections(data.summary, data.series, tz)
    if data.comparison is not None:
        parts += _comparison_section(data.comparison)
    if data.validation is not None:
        parts += _validation_section(data.validation)
    if data.calibration is not None:
        parts += _calibration_sections(data.calibration)
    parts += [_figure(path) for path in data.images]
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>orchsim report: {escape(name)}</title><style>{_STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def _name(data: FolderData) -> str:
    if data.summary is not None:
        return data.summary.scenario
    if data.comparison is not None and isinstance(data.comparison.get("scenario"), str):
        return str(data.comparison["scenario"])
    return data.folder.name


def _run_sections(summary: Summary, series: dict[str, list[str]], tz: str | None) -> list[str]:
    try:
        clock = summary_clock(summary, tz)
        rows = summary_rows(summary, clock)
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportError(f"summary.json: missing or malformed figure {exc}") from None
    head = f"seed {summary.seed}, strategy {summary.strategy}"
    table = "".join(f"<tr><th>{escape(label)}</th><td class='num'>{escape(value)}</td></tr>" for label, value in rows)
    parts = _reference_sections(summary.reference)
    parts += [f"<h2>Summary ({escape(head)})</h2>", f"<table id='summary'>{table}</table>"]
    timeline = summary.incident.timeline if summary.incident is not None else None
    if timeline:
        parts += ["<h2>Incident timeline</h2>", _timeline_table(timeline, clock)]
    strip = _status_strip(series, clock)
    if strip:
        parts += ["<h2>What the monitor and the status page showed</h2>", strip]
    return parts


def _reference_sections(reference: ReferenceComparison | None) -> list[str]:
    """The reported figures beside the simulated ones, and the account's timeline (flagship runs)."""
    if reference is None:
        return []
    seeds = ", ".join(str(s) for s in reference.seeds)
    parts = [f"<h2>Reported vs simulated (seeds {escape(seeds)})</h2>", reference_html(reference)]
    if reference.narrative:
        parts += ["<h2>The account's timeline beside the simulation</h2>", narrative_html(reference)]
    return parts


def _timeline_table(timeline: Sequence[TimelineEntry], clock: Clock) -> str:
    rows = "".join(
        f"<tr><td class='num'>{escape(at)}</td><td>{escape(source)}</td><td>{escape(label)}</td></tr>"
        for at, source, label in timeline_rows(timeline, clock)
    )
    return f"<table id='timeline'><tr><th>time (offset from start)</th><th>source</th><th>event</th></tr>{rows}</table>"


def _status_strip(series: dict[str, list[str]], clock: Clock) -> str:
    """Inline SVG: one band per observer, one rectangle per window coloured by the state shown."""
    bands = [(key, label) for key, label in (("status_monitor", "monitor"), ("status_page", "status page"))]
    bands = [(key, label) for key, label in bands if key in series]
    if not bands or not series.get("start_s"):
        return ""
    try:
        start = [float(v) for v in series["start_s"]]
        end = [float(v) for v in series["end_s"]]
    except (KeyError, ValueError):
        return ""
    total_s = max(end[-1], 1e-9)
    width, left, band_h = 1000.0, 110.0, 26.0
    scale = (width - left) / total_s
    shapes = []
    for row, (key, label) in enumerate(bands):
        y = 10 + row * (band_h + 8)
        shapes.append(f"<text x='0' y='{y + 17}' font-size='13'>{escape(label)}</text>")
        for s, e, state in zip(start, end, series[key], strict=False):
            colour = _STATE_COLOURS.get(state, "#999")
            x = left + s * scale
            shapes.append(
                f"<rect x='{x:.1f}' y='{y}' width='{max((e - s) * scale, 0.5):.1f}' height='{band_h}' "
                f"fill='{colour}'><title>{escape(moment(clock, s))}: {escape(state)}</title></rect>"
            )
    height = 10 + len(bands) * (band_h + 8) + 32
    axis = _axis(total_s, left, scale, height - 18, clock)
    legend = "".join(f"<span style='background:{c}'>{escape(s)}</span>" for s, c in _STATE_COLOURS.items())
    svg = (
        f"<svg id='status-strip' xmlns='http://www.w3.org/2000/svg' width='{width:.0f}' height='{height:.0f}' "
        f"role='img' aria-label='states shown over time' shape-rendering='crispEdges'>{''.join(shapes)}{axis}</svg>"
    )
    return f"{svg}<p class='legend'>{legend}</p>"


def _axis(total_s: float, left: float, scale: float, y: float, clock: Clock) -> str:
    """Tick labels in clock time, the offset from t = 0 on a second line."""
    step_s = next((s for s in (600.0, 1800.0, 3600.0, 7200.0, 21600.0) if total_s / s <= 12), 43200.0)
    ticks, t = [], 0.0
    while t <= total_s:
        x = left + t * scale
        ticks.append(
            f"<text x='{x:.1f}' y='{y:.0f}' font-size='11'>{escape(clock.hm(t))}"
            f"<tspan x='{x:.1f}' dy='13'>({escape(format_offset(t))})</tspan></text>"
        )
        t += step_s
    return "".join(ticks)


def _comparison_section(comparison: dict[str, Any]) -> list[str]:
    strategies = comparison.get("strategies")
    if not isinstance(strategies, dict) or not strategies:
        raise ReportError("comparison.json: no 'strategies' figures")
    metrics = [(m, _heading(m, label)) for m, label in _COMPARE_METRICS if any(m in f for f in strategies.values())]
    head = "".join(f"<th>{escape(label)}<br>mean [95% CI]</th>" for _, label in metrics)
    rows = []
    for name, figures in strategies.items():
        cells = "".join(f"<td class='num'>{escape(_interval(figures.get(m)))}</td>" for m, _ in metrics)
        rows.append(f"<tr><th>{escape(name)}</th>{cells}</tr>")
    seeds = comparison.get("seeds") or []
    title = f"<h2>Comparison over {len(seeds)} seeds (same workload for every strategy)</h2>"
    return [title, f"<table id='comparison'><tr><th>strategy</th>{head}</tr>{''.join(rows)}</table>"]


def _heading(metric: str, label: str) -> str:
    unit = UNIT_NAMES.get(unit_of(metric) or "")
    return label if unit is None else f"{label} ({unit})"


def _validation_section(validation: dict[str, Any]) -> list[str]:
    rows = validation.get("rows")
    if not isinstance(rows, list):
        raise ReportError("validation.json: no 'rows' list")
    keys = ("metric", "simulated", "measured", "difference", "tolerance", "pass")
    head = "".join(f"<th>{k}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td class='num'>{escape(_cell(row.get(k)))}</td>" for k in keys) + "</tr>"
        for row in rows
        if isinstance(row, dict)
    )
    passed = validation.get("pass")
    verdict = "pass" if passed is True else "FAIL" if passed is False else "-"
    router = validation.get("router")
    behind = ""
    if isinstance(router, dict):
        behind = f" behind {escape(str(router.get('implementation', '?')))} {escape(str(router.get('version', '')))}"
    return [
        f"<h2>Simulation vs mock service{behind}: {verdict}</h2>",
        f"<table id='validation'><tr>{head}</tr>{body}</table>",
    ]


def _calibration_sections(calibration: dict[str, Any]) -> list[str]:
    """The medians per config, then every point: measured, simulated and relative error."""
    configs = calibration.get("configs")
    if not isinstance(configs, dict) or not configs:
        raise ReportError("calibration.json: no 'configs' figures")
    overall = calibration.get("overall") or {}
    medians: list[tuple[str, Any, Any, Any]] = [
        (name, fig.get("ttft_median_abs_error"), fig.get("tpot_median_abs_error"), len(fig.get("points") or []))
        for name, fig in configs.items()
        if isinstance(fig, dict)
    ]
    medians.append(
        ("all", overall.get("ttft_median_abs_error"), overall.get("tpot_median_abs_error"), overall.get("points"))
    )
    rows = "".join(
        f"<tr><th>{escape(name)}</th><td class='num'>{_pct(ttft)}</td><td class='num'>{_pct(tpot)}</td>"
        f"<td class='num'>{escape(_cell(n))}</td></tr>"
        for name, ttft, tpot, n in medians
    )
    head = "<tr><th>config</th><th>TTFT median |error|</th><th>TPOT median |error|</th><th>points</th></tr>"
    rounds = escape(_cell(calibration.get("rounds")))
    title = f"<h2>Calibration: median |simulated / measured - 1| ({rounds} requests per user)</h2>"
    return [title, f"<table id='calibration'>{head}{rows}</table>", *_calibration_points(configs)]


def _calibration_points(configs: dict[str, Any]) -> list[str]:
    keys = ("concurrency", "input_tokens", "output_tokens")
    cells = []
    for name, fig in configs.items():
        for point in fig.get("points") or [] if isinstance(fig, dict) else []:
            figures = [point.get(k) for k in keys]
            for metric in ("ttft_s", "tpot_s"):
                m = point.get(metric) or {}
                figures += [m.get("measured"), m.get("simulated"), _pct(m.get("relative_error"), signed=True)]
            cells.append(
                f"<tr><th>{escape(name)}</th>"
                + "".join(f"<td class='num'>{escape(_cell(v))}</td>" for v in figures)
                + "</tr>"
            )
    names = (
        "config",
        "concurrency",
        "prompt tokens",
        "answer tokens",
        "TTFT measured (s)",
        "TTFT simulated (s)",
        "TTFT error",
        "TPOT measured (s)",
        "TPOT simulated (s)",
        "TPOT error",
    )
    head = "<tr>" + "".join(f"<th>{n}</th>" for n in names) + "</tr>"
    return ["<h2>Every point</h2>", f"<table id='calibration-points'>{head}{''.join(cells)}</table>"]


def _pct(value: Any, signed: bool = False) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return f"{100 * value:+.1f}%" if signed else f"{100 * value:.1f}%"


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _interval(figure: Any) -> str:
    if not isinstance(figure, dict) or figure.get("mean") is None:
        return "-"
    low, high = figure.get("ci_low"), figure.get("ci_high")
    bounds = f" [{low:.4g}, {high:.4g}]" if low is not None and high is not None else ""
    return f"{figure['mean']:.4g}{bounds}"


def _figure(path: Path) -> str:
    try:
        payload = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError as exc:
        raise ReportError(f"{path}: cannot read ({exc.strerror or exc})") from None
    name = escape(path.name)
    return f"<figure><img src='data:image/png;base64,{payload}' alt='{name}'><figcaption>{name}</figcaption></figure>"
