"""Held-out evaluation of orchsim calibrate on shared/data/inferencex-vllm.csv (or another CSV).

For each config with several shapes: fit on all but one shape, predict the shape left out; for each
config: fit without every other concurrency, predict those. Every fit is orchsim calibrate's (analytic,
then corrected by the engine) and every prediction a closed-loop run of orchsim run's engine. Prints
median and p90 absolute relative error of TTFT and TPOT and the worst configs; exit 0 only when both
targets are met. Configs run in parallel (``--jobs``, default 2); ``--quick`` evaluates every third
config only (for iterating on the method; the README figures are the full run); ``--out FILE.json``
writes every held-out point and the medians per config (``benchmarks/calibrated_profiles.py`` reads it).
Usage: python benchmarks/calibration_holdout.py [MEASURED.csv] [--jobs N] [--quick] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from sim.experiments.calibration.points import Point, read_points
from sim.experiments.calibration.run import fit_confirmed, simulate_point

# the shared data folder next to the checkout: /work/shared/data for /work/main and for /work/wt/NAME
CANDIDATES = [parent / "shared" / "data" / "inferencex-vllm.csv" for parent in Path(__file__).resolve().parents]
DATA = next((path for path in CANDIDATES if path.is_file()), CANDIDATES[1])

Row = tuple[str, str, int, int, int, float, float]  # config, kind, input, output, concurrency, ttft err, tpot err


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


def evaluate(config: str, points: list[Point]) -> list[Row]:
    """Every held-out prediction of one config (signed relative errors)."""
    rows: list[Row] = []
    for kind, train, held in folds(points):
        service = fit_confirmed(train).service()
        for point in held:
            ttft_error, tpot_error = simulate_point(service, point).errors()
            rows.append(
                (config, kind, point.input_tokens, point.output_tokens, point.concurrency, ttft_error, tpot_error)
            )
    return rows


def summary(rows: list[Row]) -> dict[str, dict[str, float | int]]:
    """Median and p90 |error| (fractions) per kind of hold-out and overall."""
    out: dict[str, dict[str, float | int]] = {}
    for kind in ("shape", "concurrency", "all"):
        mine = [r for r in rows if kind in ("all", r[1])]
        if not mine:
            continue
        ttft, tpot = np.abs([r[5] for r in mine]), np.abs([r[6] for r in mine])
        out[kind] = {
            "n": len(mine),
            "ttft_median": float(np.median(ttft)),
            "ttft_p90": float(np.percentile(ttft, 90)),
            "tpot_median": float(np.median(tpot)),
            "tpot_p90": float(np.percentile(tpot, 90)),
        }
    return out


def per_config(rows: list[Row]) -> dict[str, dict[str, float | int]]:
    """Median held-out |error| of TTFT and TPOT per config."""
    by_config: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_config[row[0]].append(row)
    return {
        config: {
            "n": len(mine),
            "ttft_median": float(np.median(np.abs([r[5] for r in mine]))),
            "tpot_median": float(np.median(np.abs([r[6] for r in mine]))),
        }
        for config, mine in sorted(by_config.items())
    }


def report(path: Path, rows: list[Row], n_configs: int, elapsed_s: float) -> None:
    """The table on the terminal."""
    print(f"{path.name}: {len(rows)} held-out predictions, {n_configs} configs, {elapsed_s:.0f} s")
    for kind, stats in summary(rows).items():
        print(
            f"{kind:<12} n={stats['n']:>4}  TTFT median {100 * stats['ttft_median']:5.1f}%"
            f"  p90 {100 * stats['ttft_p90']:6.1f}%   TPOT median {100 * stats['tpot_median']:5.1f}%"
            f"  p90 {100 * stats['tpot_p90']:6.1f}%"
        )
    configs = per_config(rows)
    worst = sorted(configs, key=lambda c: -(float(configs[c]["ttft_median"]) + float(configs[c]["tpot_median"])))
    print("worst configs (median held-out |error| TTFT / TPOT):")
    for config in worst[:6]:
        stats = configs[config]
        print(f"  {config:<46} {100 * stats['ttft_median']:5.1f}% / {100 * stats['tpot_median']:5.1f}%")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("measured", nargs="?", type=Path, default=DATA)
    parser.add_argument("--jobs", type=int, default=2, help="configs evaluated in parallel (processes)")
    parser.add_argument("--quick", action="store_true", help="every third config only (not the README figure)")
    parser.add_argument("--out", type=Path, help="write every held-out point and the per-config medians here")
    args = parser.parse_args()
    by_config: dict[str, list[Point]] = defaultdict(list)
    for point in read_points(args.measured):
        by_config[point.config].append(point)
    configs = sorted(by_config)[:: 3 if args.quick else 1]
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        results = list(pool.map(evaluate, configs, [by_config[c] for c in configs]))
    rows = [row for result in results for row in result]
    report(args.measured, rows, len(configs), time.monotonic() - started)
    if args.out:
        document = {
            "measured": args.measured.name,
            "date": time.strftime("%Y-%m-%d"),
            "summary": summary(rows),
            "configs": per_config(rows),
            "points": [
                dict(
                    zip(
                        ("config", "kind", "input_tokens", "output_tokens", "concurrency", "ttft_error", "tpot_error"),
                        row,
                        strict=True,
                    )
                )
                for row in rows
            ],
        }
        args.out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    overall = summary(rows)["all"]
    return 0 if overall["ttft_median"] <= 0.15 and overall["tpot_median"] <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
