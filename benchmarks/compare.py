"""Benchmark of ``orchsim compare``: wall time and parallel speed-up on this machine.

    python benchmarks/compare.py [--seeds 10] [--duration 1h] [--rate 100]

Runs the same comparison (4 strategies x N seeds, one simulated hour at 100 requests/s on 120
single-slot servers) through the CLI with --jobs 1 and with --jobs 2, and prints the wall time,
simulated requests per wall second, and the speed-up. Targets: under 60 s with 2 jobs, and a
speed-up of at least 1.7x on 2 cores. A benchmark, not a test: it never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

STRATEGIES = "random,round_robin,least_connections,power_of_two"


def scenario(duration: str, rate: float) -> dict[str, object]:
    return {
        "name": "bench-compare",
        "duration": duration,
        "warmup": "5m",
        "workload": {"rate": rate},
        "clusters": [{"name": "pool", "servers": 120, "service": {"kind": "exponential", "mean": 1.0}}],
        "router": {"strategy": "random"},
    }


def timed_compare(path: Path, out: Path, seeds: int, jobs: int) -> float:
    """Wall seconds of one ``orchsim compare`` run through the CLI."""
    command = [
        sys.executable,
        "-m",
        "sim",
        "compare",
        str(path),
        "--strategies",
        STRATEGIES,
        "--seeds",
        str(seeds),
        "--jobs",
        str(jobs),
        "--out",
        str(out),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"compare failed with exit {done.returncode}:\n{done.stderr}")
    return wall


def requests_simulated(out: Path) -> int:
    """Arrivals simulated over every run of a comparison (from its comparison.json)."""
    runs = json.loads((out / "comparison.json").read_text())["runs"]
    total: float = sum(r["summary"]["requests_per_wall_s"] * r["summary"]["wall_s"] for r in runs)
    return round(total)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--duration", default="1h")
    parser.add_argument("--rate", type=float, default=100.0)
    args, _ = parser.parse_known_args(argv)
    console = Console(width=120)
    console.print(
        f"orchsim compare benchmark: 4 strategies x {args.seeds} seeds, {args.duration} at {args.rate:g}/s; "
        f"python {sys.version.split()[0]}, os.cpu_count()={os.cpu_count()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(yaml.safe_dump(scenario(args.duration, args.rate)))
        walls = {jobs: timed_compare(path, Path(tmp) / f"jobs{jobs}", args.seeds, jobs) for jobs in (1, 2)}
        total = requests_simulated(Path(tmp) / "jobs2")
    table = Table(title="orchsim compare, wall time by --jobs")
    for column in ("jobs", "wall s", "simulated requests / wall s", "target"):
        table.add_column(column, justify="right")
    table.add_row("1", f"{walls[1]:.1f}", f"{total / walls[1]:,.0f}", "")
    ok = walls[2] < 60
    table.add_row("2", f"{walls[2]:.1f}", f"{total / walls[2]:,.0f}", f"< 60 s: {'PASS' if ok else 'MISS'}")
    speedup = walls[1] / walls[2]
    console.print(table)
    console.print(
        f"parallel speed-up 2 jobs vs 1: {speedup:.2f}x (target >= 1.7x: {'PASS' if speedup >= 1.7 else 'MISS'})"
    )


if __name__ == "__main__":
    main()
