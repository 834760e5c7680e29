"""``orchsim report``: the HTML file, its errors, and how it renders in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from sim.cli.main import main
from sim.output.report import REPORT_FILE
from sim.output.tables import since

SMALL = {
    "name": "small-incident",
    "duration": "20m",
    "warmup": "2m",
    "window": "30s",
    "workload": {"rate": 20},
    "clusters": [{"name": "a", "servers": 10, "slots": 2, "service": {"kind": "exponential", "mean": "500ms"}}],
    "router": {"strategy": "power_of_two"},
    "faults": [{"kind": "error_rate", "target": "a", "at": "8m", "duration": "4m", "fraction": 0.6}],
    "monitoring": {
        "status_page": {"acknowledge": "3m"},
        "annotations": [{"at": "12m", "kind": "mitigation", "label": "bad deploy rolled back"}],
    },
}
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    scenario = root / "small.yaml"
    scenario.write_text(yaml.safe_dump(SMALL))
    out = root / "run"
    assert main(["run", str(scenario), "--out", str(out)]) == 0
    assert main(["report", str(out)]) == 0
    return out


def test_run_report_is_one_self_contained_file(run_folder: Path) -> None:
    html = (run_folder / REPORT_FILE).read_text(encoding="utf-8")
    assert "<title>orchsim report: small-incident</title>" in html
    assert html.count("src='data:image/png;base64,") == 6  # incident.png (the run has an incident) and five plots
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html
    for text in ("error_rate on a begins", "bad deploy rolled back", "status page: ", "time to detect"):
        assert text in html


def test_run_summary_has_the_incident_figures(run_folder: Path) -> None:
    summary = json.loads((run_folder / "summary.json").read_text())
    monitor, official = summary["status_page"]["monitor"], summary["status_page"]["official"]
    # 60% of answers fail from 8m to 12m: the monitor sees it in the first window, the page 3 min later
    assert summary["incident"]["onset_s"] == 480.0
    assert monitor["time_to_detect_s"] == 30.0
    assert official["time_to_acknowledge_s"] == official["time_to_detect_s"] + 180.0
    assert summary["incident"]["peak_error_rate"] == pytest.approx(0.6, abs=0.1)
    assert summary["cost"]["total_usd"] > 0


def test_compare_folder_gets_a_comparison_table(run_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    scenario = run_folder.parent / "small.yaml"
    args = ["compare", str(scenario), "--strategies", "random,power_of_two", "--seeds", "2", "--jobs", "1"]
    code = main([*args, "--rank-by", "cost.total_usd", "--out", str(out), "--no-plots"])
    assert code == 0
    assert json.loads((out / "comparison.json").read_text())["rank_by"] == "cost.total_usd"
    assert main(["report", str(out)]) == 0
    html = (out / REPORT_FILE).read_text(encoding="utf-8")
    assert "<table id='comparison'>" in html
    assert "power_of_two" in html and "time to recover" in html


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "no such folder"),
        ("empty", "not an output folder of run, compare, validate or calibrate"),
        ("file", "no such folder"),
        ("bad-json", "summary.json: cannot read JSON"),
        ("list-json", "summary.json: expected a JSON object"),
        ("old-summary", "summary.json: missing or malformed figure"),
    ],
)
def test_report_refuses_what_is_not_an_output_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, message: str
) -> None:
    folder = tmp_path / "out"
    if setup == "file":
        folder.write_text("x")
    elif setup != "missing":
        folder.mkdir()
    contents = {"bad-json": "{not json", "list-json": "[1, 2]", "old-summary": json.dumps({"scenario": "x"})}
    if setup in contents:
        (folder / "summary.json").write_text(contents[setup])
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("orchsim report: ") and message in err
    assert err.count("\n") == 1
    assert not (tmp_path / "out" / REPORT_FILE).exists()


def _chromium_or_skip() -> Path:
    """Chromium if it is installed; the test is skipped only where it cannot be (CI requires it)."""
    found = CHROMIUM if CHROMIUM.exists() else Path(shutil.which("chromium") or "/nonexistent")
    if not found.exists():
        if os.environ.get("ORCHSIM_REQUIRE_BROWSER"):
            pytest.fail("ORCHSIM_REQUIRE_BROWSER is set but chromium is not installed (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium); .ci/run installs it")
    return found


def test_report_renders_in_headless_chromium(run_folder: Path) -> None:
    chromium = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.goto((run_folder / REPORT_FILE).as_uri(), wait_until="load")
            title = page.title()
            labels = page.eval_on_selector_all("table#summary th", "cells => cells.map(c => c.textContent)")
            images = page.eval_on_selector_all(
                "img", "imgs => imgs.map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])"
            )
            strip = page.eval_on_selector_all("svg#status-strip rect", "rects => rects.length")
        finally:
            browser.close()
    assert title == "orchsim report: small-incident"
    assert "time to detect: monitor / status page" in labels and "availability" in labels
    plots = ["incident.png", "load.png", "errors.png", "latency.png", "queue.png", "availability.png"]
    assert [alt for alt, *_ in images] == plots
    assert all(complete and width > 0 and height > 0 for _, complete, width, height in images), images
    assert strip == 2 * 40  # two observers x forty 30 s windows
    assert all(url.startswith(("file:", "data:")) for url in requested), requested


def test_validate_folder_gets_its_table(tmp_path: Path) -> None:
    rows = [
        {"metric": "availability", "simulated": 0.99, "measured": 0.97, "difference": 0.02, "tolerance": 0.01},
        {"metric": "latency_s.p99", "simulated": 4.0, "measured": 4.2, "difference": -0.2, "tolerance": 1.0},
    ]
    rows[0]["pass"], rows[1]["pass"] = False, True
    (tmp_path / "validation.json").write_text(json.dumps({"rows": rows, "pass": False}))
    assert main(["report", str(tmp_path)]) == 0
    html = (tmp_path / REPORT_FILE).read_text(encoding="utf-8")
    assert "Simulation vs mock service: FAIL" in html
    assert "<td class='num'>latency_s.p99</td><td class='num'>4</td><td class='num'>4.2</td>" in html


def test_run_prints_the_incident_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "small.yaml"
    scenario.write_text(yaml.safe_dump(SMALL))
    assert main(["run", str(scenario), "--out", str(tmp_path / "run"), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "time to detect: monitor / status page" in out and "30s / 1m30s" in out
    assert "time to acknowledge ('investigating')" in out and "30s / 4m30s" in out
    for label in ("time to recover", "peak error rate", "user outage reports", "cost of downtime"):
        assert label in out


def test_since_formats_signed_moments() -> None:
    assert [since(None), since(0.0), since(90.0), since(-60.0), since(3600.0)] == ["-", "0s", "1m30s", "-1m", "1h"]
