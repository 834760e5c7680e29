"""Calibration inputs and outputs: the guidellm and orchsim-records readers, the shipped calibrated
profiles (names, reproducibility, use as ``profile:``) and ``orchsim report`` of a calibration folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.experiments.calibration.output import calibration_document
from sim.experiments.calibration.points import CalibrationError, Point, read_points
from sim.experiments.calibration.profiles import profile_name
from sim.experiments.calibration.run import Outcome, fit_confirmed, simulate_point
from sim.output.report import read_folder, render
from sim.scenario.gpu_profiles import GPU_PROFILES

DATA = Path(__file__).parent / "data"


def test_guidellm_report_gives_its_fixed_concurrency_benchmarks() -> None:
    points = read_points(DATA / "guidellm-report.json")  # auto: a JSON document with "benchmarks"
    assert [(p.concurrency, p.input_tokens, p.output_tokens) for p in points] == [(1, 1024, 1024), (8, 1024, 1021)]
    # TTFT in s; TPOT is inter_token_latency_ms (after the first token), not time_per_output_token_ms
    assert [p.ttft_s for p in points] == pytest.approx([0.0615, 0.1204])
    assert [p.tpot_s for p in points] == pytest.approx([0.0142, 0.0151])
    assert {p.config for p in points} == {"guidellm-report"}


def test_guidellm_report_without_a_metric_names_it(tmp_path: Path) -> None:
    doc = json.loads((DATA / "guidellm-report.json").read_text(encoding="utf-8"))
    del doc["benchmarks"][2]["metrics"]["inter_token_latency_ms"]
    bad = tmp_path / "report.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(CalibrationError, match=r"report.json: line 1: column benchmarks\[2\].metrics.inter_token"):
        read_points(bad, "guidellm")


def test_orchsim_records_give_one_point() -> None:
    (point,) = read_points(DATA / "orchsim-mock_requests.csv")  # auto: the records' header
    assert (point.config, point.concurrency, point.output_tokens) == ("orchsim-mock", 2, 10)
    assert point.ttft_s == pytest.approx(0.105)
    assert point.tpot_s == pytest.approx((0.9 + 0.98 + 0.9 + 0.9) / 9 / 4)


def test_orchsim_records_with_a_bad_cell_name_line_and_column(tmp_path: Path) -> None:
    lines = (DATA / "orchsim-mock_requests.csv").read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace(",1.1,200,", ",soon,200,")
    bad = tmp_path / "run_requests.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CalibrationError, match=r"run_requests.csv: line 3: column end_s: not a number"):
        read_points(bad)


@pytest.mark.parametrize(
    ("config", "name"),
    [
        ("llama-3.1-70b-instruct-h200-fp8-vllm-tp2", "h200-llama70b-tp2-vllm"),
        ("deepseek-v4-pro-b300-fp4-vllm-tp8", "b300-deepseekv4pro-tp8-vllm"),
        ("minimax-m2.5-b300-fp4-vllm-tp2-ep4-dp2", "b300-minimaxm2.5-tp2-ep4-dp2-vllm"),
        ("gpt-oss-120b-mi355x-fp4-sglang-tp8", "mi355x-gptoss120b-tp8-sglang"),
    ],
)
def test_profile_names_come_from_the_config(config: str, name: str) -> None:
    assert profile_name(config) == name


def test_profile_name_of_a_config_without_a_gpu_is_an_error() -> None:
    with pytest.raises(ValueError, match="expected MODEL-GPU"):
        profile_name("my-model-vllm")


def test_shipped_profile_is_reproducible_and_usable() -> None:
    """h200-llama70b-tp2-vllm = the fit of its 15 measured runs (as benchmarks/calibrated_profiles.py made
    it); used as ``profile:`` it reproduces a measured point within the calibration's error."""
    points = read_points(DATA / "inferencex-llama70b-h200-tp2.csv")
    shipped = GPU_PROFILES["h200-llama70b-tp2-vllm"]
    refitted = fit_confirmed(points).service()
    for key, value in refitted.items():
        if key != "kind":
            assert shipped[key] == pytest.approx(value, rel=2e-3, abs=1e-12), key
    point = next(p for p in points if (p.input_tokens, p.concurrency) == (8192, 16))
    outcome = simulate_point({"kind": "llm", "profile": "h200-llama70b-tp2-vllm"}, point)
    ttft_error, tpot_error = outcome.errors()
    assert abs(ttft_error) < 0.25 and abs(tpot_error) < 0.15
    assert "h100-8b" in GPU_PROFILES  # the hand-copied profiles the flagship uses stay


def test_report_shows_a_calibration_folder(tmp_path: Path) -> None:
    point = Point("cfg-a", 8, 1024, 1024, 0.2, 0.02)
    fits = {"cfg-a": {"service": {"kind": "llm", "step_s": 0.01}, "outcomes": [Outcome(point, 0.25, 0.019)]}}
    (tmp_path / "calibration.json").write_text(json.dumps(calibration_document(fits, 10)), encoding="utf-8")
    html = render(read_folder(tmp_path))
    assert "<table id='calibration'>" in html and "<table id='calibration-points'>" in html
    assert "+25.0%" in html and "-5.0%" in html  # every point's signed errors
    assert "25.0%" in html.split("<table id='calibration'>")[1].split("</table>")[0]  # the median per config
