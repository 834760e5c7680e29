"""--out folders never mix two runs: refused unless new, empty or the same verb's; --overwrite
replaces; a run replaces the folder whole; report shows only the files of the run in run.json;
files are 0644 and folders 0755 under umask 022."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

import sim.experiments.calibration.output
import sim.experiments.run_seeds
from sim.cli.main import main


@pytest.fixture
def scenario(tiny: Path) -> Path:
    return tiny


def orchsim(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def hidden(folder: Path) -> list[str]:
    return [p.name for p in folder.parent.iterdir() if p.name.startswith(".")]


def test_a_foreign_non_empty_folder_is_refused_and_kept(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    code, err = orchsim(capsys, "run", str(scenario), "--out", str(out), "--no-plots")
    assert code == 2 and f"--out {out} is not empty and is not an orchsim output folder" in err
    assert "--overwrite" in err and [p.name for p in out.iterdir()] == ["notes.txt"]
    code, err = orchsim(capsys, "run", str(scenario), "--out", str(out), "--no-plots", "--overwrite")
    assert code == 0, err
    assert not (out / "notes.txt").exists() and (out / "summary.json").exists() and not hidden(out)


def test_another_verbs_output_is_refused(scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o"
    assert orchsim(capsys, "run", str(scenario), "--out", str(out), "--no-plots")[0] == 0
    code, err = orchsim(
        capsys, "compare", str(scenario), "--strategies", "random", "--seeds", "1", "--jobs", "1", "--out", str(out)
    )
    assert code == 2 and "is an output of orchsim run" in err


def test_a_rerun_replaces_the_folder_whole_and_report_skips_foreign_plots(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o"
    assert orchsim(capsys, "run", str(scenario), "--out", str(out), "--no-plots")[0] == 0
    first = json.loads((out / "run.json").read_text())
    assert first["verb"] == "run" and "summary.json" in first["files"]
    (out / "latency.png").write_bytes(b"\x89PNG stale")  # a plot of an earlier run left behind
    assert orchsim(capsys, "report", str(out))[1].startswith("orchsim report: left out latency.png")
    assert "stale" not in (out / "report.html").read_text()
    assert orchsim(capsys, "run", str(scenario), "--out", str(out), "--no-plots")[0] == 0
    second = json.loads((out / "run.json").read_text())
    assert second["run_id"] != first["run_id"] and not (out / "latency.png").exists() and not hidden(out)


def test_an_interrupted_run_keeps_the_previous_folder_and_no_partial_one(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "o"
    assert orchsim(capsys, "run", str(scenario), "--out", str(out), "--no-plots")[0] == 0
    before = (out / "run.json").read_text()

    def interrupted(*args: Any, **kwargs: Any) -> None:
        (args[0] / "summary.json").write_text("{}")  # half a run written...
        raise KeyboardInterrupt  # ...then Ctrl-C

    monkeypatch.setattr(sim.experiments.run_seeds, "simulate_into", interrupted)  # a lone run simulates in-process
    code, _ = orchsim(capsys, "run", str(scenario), "--out", str(out), "--no-plots")
    assert code == 130 and (out / "run.json").read_text() == before and not hidden(out)


def test_outputs_are_0644_and_folders_0755(scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mask = os.umask(0o022)
    os.umask(mask)  # as found: 022 gives 0644 and 0755, as open() and mkdir() would
    out = tmp_path / "o"
    assert orchsim(capsys, "run", str(scenario), "--out", str(out), "--no-plots")[0] == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~mask
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path.name


CALIBRATION = Path(__file__).resolve().parent / "data" / "vllm-bench-llama70b-h200-tp2.jsonl"


def test_calibrate_out_follows_the_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cal"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    code, err = orchsim(capsys, "calibrate", str(CALIBRATION), "--out", str(out))
    assert code == 2 and f"--out {out} is not empty and is not an orchsim output folder" in err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]  # refused before fitting, nothing touched
    code, err = orchsim(capsys, "calibrate", str(CALIBRATION), "--out", str(out), "--overwrite")
    assert code == 0, err
    first = json.loads((out / "run.json").read_text())
    assert first["verb"] == "calibrate" and not (out / "notes.txt").exists() and not hidden(out)
    assert {"calibration.json", "profiles.yaml", "calibration.png"} <= set(first["files"])
    (out / "stale.png").write_bytes(b"\x89PNG stale")  # left by hand: a rerun replaces the folder whole
    code, err = orchsim(capsys, "calibrate", str(CALIBRATION), "--out", str(out))
    assert code == 0, err
    second = json.loads((out / "run.json").read_text())
    assert second["run_id"] != first["run_id"] and not (out / "stale.png").exists() and not hidden(out)
    assert orchsim(capsys, "report", str(out)) == (0, "")  # report reads it: every plot is this run's


def test_calibrate_refuses_another_verbs_output_and_run_refuses_a_calibration(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = tmp_path / "ran"
    assert orchsim(capsys, "run", str(scenario), "--out", str(ran), "--no-plots")[0] == 0
    code, err = orchsim(capsys, "calibrate", str(CALIBRATION), "--out", str(ran))
    assert code == 2 and "is an output of orchsim run" in err and (ran / "summary.json").exists()
    calibrated = tmp_path / "cal"
    assert orchsim(capsys, "calibrate", str(CALIBRATION), "--out", str(calibrated))[0] == 0
    code, err = orchsim(capsys, "run", str(scenario), "--out", str(calibrated), "--no-plots")
    assert code == 2 and "is an output of orchsim calibrate" in err


def test_an_interrupted_calibration_keeps_the_previous_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "cal"
    assert orchsim(capsys, "calibrate", str(CALIBRATION), "--out", str(out))[0] == 0
    before = (out / "run.json").read_text()

    def interrupted(path: Path, *args: Any) -> None:
        path.write_text("half")  # one file written...
        raise KeyboardInterrupt  # ...then Ctrl-C

    monkeypatch.setattr(sim.experiments.calibration.output, "write_predictions", interrupted)
    points = tmp_path / "points.csv"
    points.write_text("config,concurrency,input_tokens,output_tokens\nllama70b-h200-tp2,24,2048,512\n")
    code, _ = orchsim(capsys, "calibrate", str(CALIBRATION), "--predict", str(points), "--out", str(out))
    assert code == 130 and (out / "run.json").read_text() == before and not hidden(out)
    assert not (out / "predictions.csv").exists()
