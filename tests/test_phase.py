"""orchsim phase: the metastability phase diagram of a trigger's size and duration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.experiments.phase import PhaseSpec, parse_trigger, trigger_overrides
from sim.scenario.paths import scenarios_dir
from tests.conftest import orchsim


def test_trigger_replaces_the_scenarios_triggers() -> None:
    assert parse_trigger("surge") == ("surge", None)
    assert parse_trigger("crash:us-east/2") == ("crash", "us-east/2")
    spec = PhaseSpec("crash", "c", 60.0, [0.5], [10.0])
    assert trigger_overrides(spec, 0.5, 10.0) == [
        "workload.surges=[]",
        "faults=[{at: 60.0, duration: 10.0, fraction: 0.5, kind: crash, target: c}]",
    ]
    for bad in ("meteor", "crash", "surge:c"):
        with pytest.raises(ValueError, match="--trigger"):
            parse_trigger(bad)


def test_retry_storm_phase_diagram_has_a_boundary(tmp_path: Path) -> None:
    """retry-storm: a 2x spike for 5 s is absorbed, a 10x one leaves the cell metastable."""
    done = orchsim(
        "phase",
        str(scenarios_dir() / "retry-storm.yaml"),
        "--magnitudes",
        "2,10",
        "--durations",
        "5s,30s",
        "--seeds",
        "2",
        "--out",
        str(tmp_path / "p"),
    )
    assert done.returncode == 0, done.stderr
    cells = {
        (c["magnitude"], c["duration_s"]): c for c in json.loads((tmp_path / "p" / "phase.json").read_text())["cells"]
    }
    assert cells[(2.0, 5.0)]["metastable_share"] == 0.0
    assert cells[(10.0, 5.0)]["metastable_share"] == 1.0
    assert cells[(10.0, 30.0)]["metastable_share"] == 1.0
    assert (tmp_path / "p" / "phase.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--magnitudes", "2,x", "--durations", "5s"], "--magnitudes"),
        (["--magnitudes", "2", "--durations", "soon"], "--durations"),
        (["--magnitudes", "0.5", "--durations", "5s", "--trigger", "crash:nowhere"], "no cluster named 'nowhere'"),
    ],
)
def test_phase_bad_input_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    done = orchsim("phase", str(scenarios_dir() / "retry-storm.yaml"), *args, "--out", str(tmp_path / "never"))
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "never").exists()
