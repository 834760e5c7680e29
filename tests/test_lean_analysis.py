"""The analysis after a run, vectorised, gives exactly what the per-window loops gave; a simulating
process imports neither matplotlib nor scipy.stats (issue #18: memory and start-up of every worker)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from sim.analysis.metrics import _window_percentiles, summarize, timeseries
from sim.engine import simulate
from sim.scenario.loading import load_scenario
from sim.scenario.paths import scenarios_dir


def per_window(idx: np.ndarray, values: np.ndarray, n: int, ps: tuple[int, ...]) -> dict[int, np.ndarray]:
    """The reference: ``np.percentile`` window by window."""
    out = {p: np.full(n, np.nan) for p in ps}
    for w in range(n):
        chunk = values[idx == w]
        if chunk.size:
            for p, value in zip(ps, np.percentile(chunk, ps), strict=True):
                out[p][w] = value
    return out


@pytest.mark.parametrize("kind", ["exponential", "ties", "heavy tail", "with nan"])
def test_window_percentiles_are_numpys_bit_for_bit(kind: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(40):
        n, m = int(rng.integers(1, 50)), int(rng.integers(0, 2000))
        idx = rng.integers(0, n, m)
        if kind == "ties":
            values = rng.integers(0, 4, m).astype(np.float64)
        elif kind == "heavy tail":
            values = rng.lognormal(0.0, 3.0, m)
        else:
            values = rng.exponential(2.0, m)
        if kind == "with nan" and m:
            values[rng.integers(0, m, 2)] = np.nan
        for ps in ((50, 95, 99), (95,), (0, 1, 33, 100)):
            want, got = per_window(idx, values, n, ps), _window_percentiles(idx, values, n, ps)
            for p in ps:
                assert got[p].tobytes() == want[p].tobytes(), (kind, p)


def test_window_percentiles_of_empty_and_single_windows() -> None:
    got = _window_percentiles(np.array([1, 3, 3]), np.array([5.0, 1.0, 3.0]), 5, (50, 99))
    assert np.isnan(got[50][[0, 2, 4]]).all()
    assert (got[50][1], got[50][3]) == (5.0, 2.0)
    assert got[99][3] == np.percentile([1.0, 3.0], 99) == pytest.approx(2.98)


def test_a_simulating_process_imports_neither_matplotlib_nor_scipy_stats() -> None:
    code = (
        "import sys, sim.cli.main, sim.experiments.run_seeds, sim.experiments.compare\n"
        "import sim.analysis.metrics, sim.engine\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('matplotlib', 'scipy.stats')))\n"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_series_without_the_shown_columns_give_the_same_summary() -> None:
    # compare, sweep and calibration keep only the summary: they skip the columns only files and plots show
    scenario = load_scenario(scenarios_dir() / "reasoning-hol.yaml", ["duration=20m", "warmup=5m"])
    result = simulate(scenario, 3)
    full, lean = timeseries(result), timeseries(result, shown=False)
    left_out = set(full) - set(lean)
    assert "ttft_p95_s" in left_out and any(k.startswith("latency_p99_s__") for k in left_out)
    assert all(k == "ttft_p95_s" or "__" in k for k in left_out) and set(lean) <= set(full)
    assert list(lean) == [k for k in full if k in lean]  # the same order
    for name, column in lean.items():
        assert column.tobytes() == full[name].tobytes(), name
    assert summarize(result, lean).to_dict() == summarize(result, full).to_dict() == summarize(result).to_dict()
