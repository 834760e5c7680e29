"""Measured closed-loop runs for ``orchsim calibrate``: readers for CSV, vLLM bench, guidellm and
orchsim's own load-test records; every error names the file, line and column."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FORMATS", "CalibrationError", "Point", "read_points"]

FORMATS = ("auto", "csv", "vllm-bench", "guidellm", "orchsim")
REQUIRED = ("concurrency", "input_tokens", "output_tokens")
MEASURED = ("ttft_s", "tpot_s")


class CalibrationError(Exception):
    """A measured file that cannot be used (the message names the file, line and column)."""


@dataclass(frozen=True)
class Point:
    """One closed-loop run: a deployment at one shape and concurrency, with its mean TTFT and TPOT."""

    config: str
    concurrency: int
    input_tokens: int
    output_tokens: int
    ttft_s: float | None
    tpot_s: float | None
    extra: tuple[tuple[str, str], ...] = ()  # the row's other columns, kept for predictions.csv


def read_points(path: Path, fmt: str = "auto", need_measured: bool = True) -> list[Point]:
    """Every measured point of ``path`` in format ``fmt`` (auto: by extension and content)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"{path}: cannot read ({exc})") from exc
    if fmt == "auto":
        fmt = _sniff(path, text)
    if fmt == "csv":
        points = _read_csv(path, text, need_measured)
    elif fmt == "orchsim":
        points = _read_records(path, text)
    else:
        points = _read_json(path, text, fmt)
    if not points:
        raise CalibrationError(f"{path}: no measured runs in it")
    return points


def _sniff(path: Path, text: str) -> str:
    head = text.lstrip()[:1]
    if head in "[{":
        return "guidellm" if '"benchmarks"' in text else "vllm-bench"
    if text.split("\n", 1)[0].startswith("req,attempt,"):
        return "orchsim"
    return "csv"


def _number(path: Path, line: int, column: str, raw: str | None, integer: bool = False, zero_ok: bool = False) -> float:
    """A positive (``zero_ok``: or zero) finite number from a cell, or an error naming file, line and column."""
    try:
        value = float(raw if raw is not None else "")
    except ValueError:
        raise CalibrationError(f"{path}: line {line}: column {column}: not a number (got {raw!r})") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
        raise CalibrationError(f"{path}: line {line}: column {column}: must be a positive number (got {raw!r})")
    if integer and value != int(value):
        raise CalibrationError(f"{path}: line {line}: column {column}: must be a whole number (got {raw!r})")
    return value


def _read_csv(path: Path, text: str, need_measured: bool) -> list[Point]:
    rows = csv.DictReader(text.splitlines())
    columns = rows.fieldnames or []
    wanted = REQUIRED + (MEASURED if need_measured else ())
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise CalibrationError(f"{path}: line 1: missing column(s) {', '.join(missing)} (has: {', '.join(columns)})")
    points = []
    for line, row in enumerate(rows, start=2):
        if None in row or any(row[c] is None for c in columns):
            raise CalibrationError(f"{path}: line {line}: has {len(row)} cells, the header {len(columns)}")
        n, i, o = (int(_number(path, line, c, row[c], integer=True)) for c in REQUIRED)
        ttft, tpot = (
            _number(path, line, c, row[c]) if c in columns and (need_measured or row[c] not in ("", None)) else None
            for c in MEASURED
        )
        config = (row.get("config") or "").strip() or path.stem
        extra = tuple((c, row[c]) for c in columns if c not in (*REQUIRED, *MEASURED, "config"))
        points.append(Point(config, n, i, o, ttft, tpot, extra))
    return points


def _dig(data: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _json_documents(path: Path, text: str) -> list[tuple[int, Any]]:
    """One JSON document, a list of them, or JSON lines; each with the line it starts on."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as whole:
        docs = []
        for line, raw in enumerate(text.splitlines(), start=1):
            if raw.strip():
                try:
                    docs.append((line, json.loads(raw)))
                except json.JSONDecodeError:
                    raise CalibrationError(f"{path}: line {whole.lineno}: column {whole.colno}: {whole.msg}") from None
        return docs
    return [(1, d) for d in data] if isinstance(data, list) else [(1, data)]


def _read_json(path: Path, text: str, fmt: str) -> list[Point]:
    docs = _json_documents(path, text)
    if fmt == "guidellm":
        return [p for line, doc in docs for p in _guidellm(path, line, doc)]
    return [_vllm_bench(path, line, doc) for line, doc in docs]


def _vllm_bench(path: Path, line: int, doc: Any) -> Point:
    """``vllm bench serve --save-result``: max_concurrency, mean_ttft_ms, mean_tpot_ms and token totals."""
    if not isinstance(doc, dict):
        raise CalibrationError(f"{path}: line {line}: expected a JSON object of vllm bench serve results")

    def field(key: str) -> float:
        return _number(path, line, key, None if doc.get(key) is None else str(doc.get(key)))

    completed = field("completed")
    config = str(doc.get("model_id") or path.stem)
    return Point(
        config=config,
        concurrency=round(field("max_concurrency")),
        input_tokens=max(round(field("total_input_tokens") / completed), 1),
        output_tokens=max(round(field("total_output_tokens") / completed), 1),
        ttft_s=field("mean_ttft_ms") / 1000.0,
        tpot_s=field("mean_tpot_ms") / 1000.0,
    )


def _guidellm(path: Path, line: int, doc: Any) -> list[Point]:
    """guidellm's report: ``benchmarks[]``, each with its strategy (``args.strategy``, or ``config.strategy``
    in later versions) and the metrics' successful means in ms. Fixed-concurrency strategies only:
    ``concurrent`` (``streams``) and ``synchronous`` (one stream); TPOT is ``inter_token_latency_ms``,
    guidellm's time per token after the first (its ``time_per_output_token_ms`` counts the first too)."""
    benchmarks = _dig(doc, "benchmarks")
    if not isinstance(benchmarks, list):
        raise CalibrationError(f"{path}: line {line}: column benchmarks: a guidellm report needs a benchmarks list")
    config = str(_dig(doc, "args", "model") or _dig(doc, "config", "model") or path.stem)
    points = []
    for index, bench in enumerate(benchmarks):
        where = f"benchmarks[{index}]"
        strategy = _dig(bench, "config", "strategy") or _dig(bench, "args", "strategy") or {}
        kind = strategy.get("type_") if isinstance(strategy, dict) else None
        streams = 1 if kind == "synchronous" else strategy.get("streams") if kind == "concurrent" else None
        if streams is None:
            continue  # not a fixed-concurrency benchmark (a rate, throughput or sweep point)

        def mean(metric: str, where: str = where, bench: Any = bench) -> float:
            value = _dig(bench, "metrics", metric, "successful", "mean")
            return _number(path, line, f"{where}.metrics.{metric}", None if value is None else str(value))

        points.append(
            Point(
                config=config,
                concurrency=round(_number(path, line, f"{where}.strategy.streams", str(streams))),
                input_tokens=max(round(mean("prompt_token_count")), 1),
                output_tokens=max(round(mean("output_token_count")), 1),
                ttft_s=mean("time_to_first_token_ms") / 1000.0,
                tpot_s=mean("inter_token_latency_ms") / 1000.0,
            )
        )
    return points


def _read_records(path: Path, text: str) -> list[Point]:
    """orchsim's load-test records (``*_requests.csv``): one point, concurrency = mean requests in flight
    (time-weighted), TTFT and TPOT = means over the successful streamed requests."""
    rows = list(csv.DictReader(text.splitlines()))
    good = []
    for line, row in enumerate(rows, start=2):
        if row.get("status") == "200" and row.get("first_token_s") not in ("", "nan", None):
            send, first, end = (
                _number(path, line, c, row.get(c), zero_ok=True) for c in ("send_s", "first_token_s", "end_s")
            )
            tokens = _number(path, line, "tokens", row.get("tokens"), integer=True)
            if not send < first <= end:
                raise CalibrationError(f"{path}: line {line}: column first_token_s: must lie between send_s and end_s")
            good.append((send, first, end, int(tokens)))
    if not good:
        raise CalibrationError(f"{path}: line 2: column status: no successful streamed request in it")
    span_s = max(g[2] for g in good) - min(g[0] for g in good)
    busy_s = sum(end - send for send, _, end, _ in good)
    after = [(end - first) / (tokens - 1) for _, first, end, tokens in good if tokens > 1]
    if not after:
        raise CalibrationError(f"{path}: line 2: column tokens: needs answers of two tokens or more")
    return [
        Point(
            config=path.stem.removesuffix("_requests"),
            concurrency=max(round(busy_s / span_s), 1),
            input_tokens=1,  # the records hold no prompt length; the mock's prompts are short
            output_tokens=max(round(sum(g[3] for g in good) / len(good)), 1),
            ttft_s=sum(first - send for send, first, _, _ in good) / len(good),
            tpot_s=sum(after) / len(after),
        )
    ]
