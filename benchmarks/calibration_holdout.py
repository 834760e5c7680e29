"""Held-out evaluation of orchsim calibrate on shared/data/inferencex-vllm.csv (or another CSV).

For each config with several shapes: fit on all but one shape, predict the shape left out; for each
config: fit without every other concurrency, predict those. Every prediction is a closed-loop run of
orchsim run's engine. Prints median and p90 absolute relative error of TTFT and TPOT, and the worst
configs. Usage: python benchmarks/calibration_holdout.py [MEASURED.csv]
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from sim.calibration.model import fit_points
from sim.calibration.points import Point, read_points
from sim.calibration.run import simulate_point

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "inferencex-vllm.csv"


def folds(points: list[Point]) -> list[tuple[str, list[Point], list[Point]]]:
    """(kind, training points, held-out points) of one config."""
    out = []
    shapes = sorted({(p.input_tokens, p.output_tokens) for p in points})
    if len(shapes) > 1:
        for shape in shapes:
            held = [p for p in points if (p.input_tokens, p.output_tokens) == shape]
            out.append(("shape", [p for p in points if p not in held], held))
    levels = sorted({p.concurrency for p in points})
    held_levels = set(levels[1::2])
    held = [p for p in points if p.concurrency in held_levels]
    if held and len(held) < len(points):
        out.append(("concurrency", [p for p in points if p not in held], held))
    return out


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA
    by_config: dict[str, list[Point]] = defaultdict(list)
    for point in read_points(path):
        by_config[point.config].append(point)
    rows: list[tuple[str, str, float, float]] = []
    for config, points in by_config.items():
        for kind, train, held in folds(points):
            service = fit_points(train).service()
            for point in held:
                ttft_error, tpot_error = (abs(e) for e in simulate_point(service, point).errors())
                rows.append((config, kind, ttft_error, tpot_error))
    ttft = np.array([r[2] for r in rows])
    tpot = np.array([r[3] for r in rows])
    print(f"{path.name}: {len(rows)} held-out predictions, {len(by_config)} configs")
    for kind in ("shape", "concurrency", "all"):
        mine = [r for r in rows if kind in ("all", r[1])]
        t, p = 100 * np.array([r[2] for r in mine]), 100 * np.array([r[3] for r in mine])
        print(
            f"{kind:<12} n={len(mine):>4}  TTFT median {np.median(t):5.1f}%  p90 {np.percentile(t, 90):6.1f}%"
            f"   TPOT median {np.median(p):5.1f}%  p90 {np.percentile(p, 90):6.1f}%"
        )
    worst = sorted(by_config, key=lambda c: -np.median([r[2] + r[3] for r in rows if r[0] == c] or [0.0]))[:5]
    print("worst configs (median held-out |error| TTFT / TPOT):")
    for config in worst:
        mine = [r for r in rows if r[0] == config]
        ttft_pct, tpot_pct = 100 * np.median([r[2] for r in mine]), 100 * np.median([r[3] for r in mine])
        print(f"  {config:<46} {ttft_pct:5.1f}% / {tpot_pct:5.1f}%")
    return 0 if np.median(ttft) <= 0.15 and np.median(tpot) <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
