"""Benchmark of ``orchsim sweep``: throughput on 1 vs 2 local processes, and on a 2-worker Dask cluster.

    python benchmarks/sweep.py [--seeds 2] [--duration 30m]

The same grid (5 rates x 2 strategies x N seeds on 100 single-slot servers) runs through the CLI
three times into fresh folders. Targets: 2 local processes >= 1.7x one process; a Dask
LocalCluster of 2 workers >= 0.8x the 2-process local pool. A benchmark, not a test.
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

GRID = ["--grid", "workload.rate=60:100:10", "--grid", "router.strategy=random,power_of_two"]


def scenario(duration: str) -> dict[str, object]:
    return {
        "name": "bench-sweep",
        "duration": duration,
        "warmup": "2m",
        "workload": {"rate": 80},
        "clusters": [{"name": "pool", "servers": 100, "service": {"kind": "exponential", "mean": 1.0}}],
    }


def timed_sweep(path: Path, out: Path, seeds: int, extra: list[str]) -> float:
    command = [
        sys.executable,
        "-m",
        "sim",
        "sweep",
        str(path),
        *GRID,
        "--seeds",
        str(seeds),
        "--no-plots",
        "--out",
        str(out),
        *extra,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"sweep failed ({done.returncode}):\n{done.stderr}")
    return time.perf_counter() - started


def simulated_requests(out: Path) -> int:
    records = [json.loads(p.read_text()) for p in (out / "points").glob("*.json")]
    total: float = sum(r["summary"]["requests_per_wall_s"] * r["summary"]["wall_s"] for r in records)
    return round(total)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--duration", default="30m")
    args, _ = parser.parse_known_args(argv)
    from distributed import LocalCluster

    console = Console(width=120)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(yaml.safe_dump(scenario(args.duration)))
        walls = {
            "local, 1 process": timed_sweep(path, Path(tmp) / "one", args.seeds, ["--jobs", "1"]),
            "local, 2 processes": timed_sweep(path, Path(tmp) / "two", args.seeds, ["--jobs", "2"]),
        }
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None)  # type: ignore[no-untyped-call]
        with cluster:
            url = "dask://" + cluster.scheduler_address.removeprefix("tcp://")
            walls["Dask LocalCluster, 2 workers"] = timed_sweep(
                path, Path(tmp) / "dask", args.seeds, ["--executor", url]
            )
        total = simulated_requests(Path(tmp) / "two")
    table = Table(
        title=f"orchsim sweep: 10 points x {args.seeds} seeds, {args.duration} each; cpu_count={os.cpu_count()}"
    )
    for column in ("executor", "wall s", "simulated requests / wall s"):
        table.add_column(column, justify="right")
    for name, wall in walls.items():
        table.add_row(name, f"{wall:.1f}", f"{total / wall:,.0f}")
    console.print(table)
    local = walls["local, 1 process"] / walls["local, 2 processes"]
    dask = walls["local, 2 processes"] / walls["Dask LocalCluster, 2 workers"]
    console.print(f"2 processes vs 1: {local:.2f}x (target >= 1.7x: {'PASS' if local >= 1.7 else 'MISS'})")
    console.print(f"Dask 2 workers vs local pool: {dask:.2f}x (target >= 0.8x: {'PASS' if dask >= 0.8 else 'MISS'})")


if __name__ == "__main__":
    main()
