"""Conventions users rely on: --json on every verb, -q, tables that fit, plain progress off a TTY,
ties ranked as ties, shipped scenarios by name, --help with defaults and an example."""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from rich.table import Table

from sim.cli import main as cli
from sim.cli import ui
from sim.cli.main import build_parser, main
from sim.experiments.compare import Comparison, RowRun
from sim.output.compare_output import DROP_ORDER, TABLE_METRICS, comparison_table
from sim.scenario.paths import shipped_scenarios
from tests.conftest import base_summary, orchsim

TINY = {
    "name": "tiny",
    "duration": "6m",
    "warmup": "1m",
    "window": "30s",
    "workload": {"rate": 10},
    "clusters": [{"name": "a", "servers": 6, "service": {"kind": "exponential", "mean": "400ms"}}],
    "faults": [{"kind": "crash", "target": "a", "at": "3m", "duration": "1m", "fraction": 0.5}],
}


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def only_json(capsys: pytest.CaptureFixture[str]) -> Any:
    """stdout holds exactly one JSON document (json.loads refuses anything around it)."""
    return json.loads(capsys.readouterr().out)


def test_run_json_is_summary_json_alone_on_stdout_with_plain_progress_on_stderr(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = orchsim("run", str(tiny), "--out", str(out), "--no-plots", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads((out / "summary.json").read_text())
    lines = done.stderr.splitlines()  # stderr is a pipe here: plain progress lines, no bar
    assert any(line.startswith("simulating tiny: 100% (0.18 h of 0.18 h simulated)") for line in lines), lines
    assert all("\r" not in line and "\x1b" not in line for line in lines)
    assert f"outputs written to {out}/" in lines


def test_run_side_by_side_json_has_the_baseline(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "with-baseline.yaml"
    path.write_text(yaml.safe_dump({**TINY, "baseline": ["faults=[]"]}))
    assert main(["run", str(path), "--out", str(tmp_path / "r"), "--no-plots", "--json"]) == 0
    document = only_json(capsys)
    assert document["scenario"] == "tiny" and document["triggers"]
    assert document["baseline"] == json.loads((tmp_path / "r" / "baseline" / "summary.json").read_text())
    assert document["baseline"]["triggers"] == []


def test_quiet_prints_nothing_but_errors(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tiny), "--out", str(tmp_path / "q"), "--no-plots", "-q"]) == 0
    assert capsys.readouterr() == ("", "")
    assert (tmp_path / "q" / "summary.json").exists()
    assert main(["run", str(tiny), "-q", "--set", "clusters.0.servers=0"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "clusters.0.servers: must be greater than 0" in captured.err


def test_errors_with_json_exit_2_with_the_message_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "no-such-scenario", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no-such-scenario: no such scenario file, and no shipped scenario of that name" in captured.err
    assert "peak-hour-surge" in captured.err  # the names it could have been


def test_check_strategies_schema_and_report_json(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**TINY, "duration": "soon"}))
    assert main(["check", str(tiny), "peak-hour-surge", str(bad), "--json"]) == 2
    checked = only_json(capsys)
    assert [(c["file"], c["ok"]) for c in checked] == [(str(tiny), True), ("peak-hour-surge", True), (str(bad), False)]
    assert checked[2]["problems"] == ["bad.yaml: duration: must be a duration such as 90, '250ms', '90s', '5m', "
                                      "'2h' or '1h30m' (got 'soon')"]  # fmt: skip
    assert main(["strategies", "--json"]) == 0
    names = [s["name"] for s in only_json(capsys)]
    assert "power_of_two" in names and names == sorted(names)
    assert main(["check", "--schema", "--json"]) == 0
    assert only_json(capsys)["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert main(["report", str(tmp_path), "--json"]) == 2  # not an output folder: error, nothing on stdout
    assert capsys.readouterr().out == ""


def test_compare_json_ties_and_one_crn_paragraph(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["compare", str(tiny), "--strategies", "random,round_robin", "--seeds", "2", "--jobs", "1", "--no-plots"]
    args += ["--set", "faults=[]", "--set", "clusters.0.servers=40"]  # nothing fails: every row at 100%
    assert main([*args, "--out", str(tmp_path / "c"), "--json"]) == 0
    document = only_json(capsys)
    assert document == json.loads((tmp_path / "c" / "comparison.json").read_text())
    assert [row["rank"] for row in document["ranking"]] == [1, 1]
    assert main([*args, "--out", str(tmp_path / "d")]) == 0
    printed = capsys.readouterr().out
    assert printed.count("common random numbers") == 1
    assert "n.s." not in printed and "best (tie)" in printed and "1=" in printed


def test_sweep_json(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sweep", str(tiny), "--grid", "clusters.0.servers=5,7", "--seeds", "1", "--jobs", "1", "--no-plots"]
    assert main([*args, "--out", str(tmp_path / "s"), "--json"]) == 0
    document = only_json(capsys)
    assert document["runs"] == {"total": 2, "skipped": 0, "new": 2, "failed": 0}
    assert [p["point"] for p in document["points"]] == [{"clusters.0.servers": 5}, {"clusters.0.servers": 7}]


def test_ranking_gives_equal_means_one_rank() -> None:
    runs = [
        RowRun(label, seed, replace(base_summary(), availability=value))
        for label, value in (("a", 1.0), ("b", 1.0), ("c", 0.9), ("d", 0.9), ("e", 0.5))
        for seed in (1, 2)
    ]
    comparison = Comparison(labels=list("abcde"), seeds=[1, 2], runs=runs, rank_by="availability")
    assert [(r["strategy"], r["rank"]) for r in comparison.ranking()] == [
        ("a", 1),
        ("b", 1),
        ("c", 3),
        ("d", 3),
        ("e", 5),
    ]
    text = render(comparison_table(comparison, "ties"), 200)
    assert "best (tie)" in text and "3=" in text and " 5 " in text


def render(table: Table, width: int) -> str:
    sink = io.StringIO()
    Console(width=width, file=sink, color_system=None).print(table)
    return sink.getvalue()


def wide_table() -> Table:
    table = Table(title="wide")
    for header in ("#", "strategy", *(title for _, title in TABLE_METRICS), "vs best"):
        table.add_column(header, no_wrap=header == "strategy")
    table.add_row("1", "least_outstanding_tokens", *["99.123% ±0.456"] * len(TABLE_METRICS), "+0.1 [+0.0, +0.2]")
    return table


@pytest.mark.parametrize(("width", "kept"), [(60, 0), (90, 1), (120, 2), (200, 7)])
def test_tables_fit_the_terminal_dropping_columns_by_priority(width: int, kept: int) -> None:
    table = wide_table()
    dropped = ui.fit_table(table, DROP_ORDER, width)
    assert dropped == list(DROP_ORDER[: len(DROP_ORDER) - kept])  # least useful first
    text = render(table, width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert "least_outstanding_tokens" in text  # never cut: other cells wrap
    assert ("…" in text) == (width == 60)  # only a terminal too narrow for the essential columns squeezes one


def test_show_table_uses_the_terminal_width(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    ui.set_mode()
    ui.show_table(wide_table(), DROP_ORDER)
    text = capsys.readouterr().out
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "columns left out to fit 100 characters: 504s" in text.replace("\n", " ")


def test_plain_progress_is_rate_limited() -> None:
    now = [0.0]
    lines: list[str] = []
    bar = ui.PlainProgress("work", 100, detail=False, clock=lambda: now[0])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("builtins.print", lambda text, **_: lines.append(text))
        for done in range(1, 101):  # one step per 10 ms: lines at each 10%
            now[0] += 0.01
            bar.update(done)
        assert len(lines) == 10 and lines[-1].startswith("work: 100% (100/100)")
        lines.clear()
        slow = ui.PlainProgress("slow", 1000, detail=False, clock=lambda: now[0])
        for done in range(1, 5):  # 3 s per step, 0.1% each: a line every 5 s
            now[0] += 3.0
            slow.update(done)
        slow.finish()
        assert [line.split(",")[0] for line in lines] == ["slow: 0% (2/1000)", "slow: 0% (4/1000)"]


def test_shipped_scenarios_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert {"peak-hour-surge", "chatgpt-2026-02-04", "mmc-textbook"} <= set(shipped_scenarios())
    assert main(["check", "peak-hour-surge", "mmc-textbook.yaml"]) == 0
    printed = capsys.readouterr().out
    assert "peak-hour-surge: ok (" in printed and "mmc-textbook.yaml: ok (" in printed
    assert main(["compare", "nope", "--strategies", "random"]) == 2
    assert "nope: no such scenario file, and no shipped scenario of that name (shipped: " in capsys.readouterr().err


def test_every_verb_has_shared_options_defaults_and_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    verbs = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(cli.EXAMPLES) <= set(verbs)
    for name in verbs:
        with pytest.raises(SystemExit):
            main([name, "--help"])
        text = capsys.readouterr().out
        for option in ("--json", "-q, --quiet", "--tz ZONE"):
            assert option in text, (name, option)
        if name in cli.EXAMPLES:
            assert f"example:\n  orchsim {name}" in text or "example:\n  orchsim run" in text, name
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "(default: 1000000)" in capsys.readouterr().out  # --max-body, whose help did not say it


def test_a_verb_without_a_document_still_prints_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def plain_verb(args: Any) -> int:
        print("line one")
        print("line two")
        return 0

    monkeypatch.setattr(cli, "_dispatch", plain_verb)
    assert main(["strategies", "--json"]) == 0
    assert only_json(capsys) == {"verb": "strategies", "exit_code": 0, "output": ["line one", "line two"]}
