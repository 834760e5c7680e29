"""Data files first, plots last: a plot that fails is a warning and costs no result; names with
matplotlib's mathtext characters are drawn as text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import sim.output.compare_output
import sim.output.plots
from sim.cli.main import main


@pytest.fixture
def scenario(tiny: Path) -> Path:
    return tiny


def compare(scenario: Path, out: Path, *variant: str) -> int:
    return main(["compare", str(scenario), "--seeds", "2", "--jobs", "1", "--out", str(out), "--variant", *variant])


def test_a_dollar_in_a_variant_name_is_drawn_as_text(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o"
    assert compare(scenario, out, "tier $^$ plan", "clusters.0.servers=2") == 0, capsys.readouterr().err
    assert "warning" not in capsys.readouterr().err
    assert "tier $^$ plan" in json.loads((out / "comparison.json").read_text())["strategies"]
    assert (out / "compare_bars.png").stat().st_size > 0


def broken(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("no fonts here")


def test_a_failing_compare_plot_is_a_warning_and_the_results_stay(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sim.output.compare_output, "_plot_cdf", broken)
    out = tmp_path / "o"
    assert compare(scenario, out, "two", "clusters.0.servers=2") == 0
    err = capsys.readouterr().err
    assert "orchsim: warning: compare plots not written (RuntimeError: no fonts here)" in err
    assert (out / "comparison.json").exists() and (out / "comparison.csv").exists()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


def test_a_failing_run_plot_is_a_warning_and_the_summary_stays(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sim.output.plots, "plot_run", broken)
    out = tmp_path / "o"
    assert main(["run", str(scenario), "--out", str(out)]) == 0
    assert "orchsim: warning: run plots not written" in capsys.readouterr().err
    assert (out / "summary.json").exists() and (out / "timeseries.csv").exists()
