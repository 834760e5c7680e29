"""Benchmark of ``orchsim compare``: wall time and parallel speed-up on this machine.

    python benchmarks/compare.py [--seeds 10] [--duration 1h] [--rate 100]
    python benchmarks/compare.py --flagship [--seeds 1] [--duration 24h] [--jobs 2] [--tree DIR]

Runs the same comparison (4 strategies x N seeds, one simulated hour at 100 requests/s on 120
single-slot servers) through the CLI with --jobs 1 and with --jobs 2, and prints the wall time,
simulated requests per wall second, and the speed-up. Targets: under 60 s with 2 jobs, and a
speed-up of at least 1.7x on 2 cores. A benchmark, not a test: it never asserts.

``--flagship`` times instead the README's comparison of the flagship scenario (its 11 rows: four
strategies and seven mitigations) over ``--seeds`` seeds with the sources of ``--tree`` (default: this
one), and prints its wall and CPU seconds (the command and its worker processes) and the CPU seconds
per row and seed. Issue #18's target is the 11 rows x 10 seeds of full days in at most 5 minutes on two
cores: the estimate printed is CPU seconds x (10 / seeds) / 2, what two free cores would take. Before
and after, it times ``engine.py``'s textbook SimPy model (random routing over 64 servers, 100,000
requests, one core): the machine's speed at the time, so that runs taken at different times compare
(a row's CPU seconds x textbook requests per CPU second is the row's cost in textbook requests).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

STRATEGIES = "random,round_robin,least_connections,power_of_two"
FLAGSHIP_ROWS = [  # the README's mitigation comparison of the flagship scenario
    "--strategies",
    "round_robin,least_connections,power_of_two,least_outstanding_tokens",
    *("--variant", "recompute", "clusters.0.service.preemption=recompute"),
    *("--variant", "priority", "clusters.0.service.scheduling=priority"),
    *("--variant", "no-retries", "clusters.0.service.scheduling=fcfs", "clients.retries.max=0"),
    *("--variant", "queue64", "clusters.0.queue_limit=64"),
    *("--variant", "autoscale-1m", "clusters.0.autoscale.interval=1m"),
    *("--variant", "servers11", "clusters.0.servers=11"),
    *("--variant", "baseline", "workload.migrations.0.start=14h", "workload.migrations.0.end=14h30m"),
    *("faults.0.at=14h", "workload.surges=[]"),
]
FLAGSHIP_TARGET_S = 300.0
SPEED_REQUESTS = 100_000  # the textbook model's run that measures the machine's speed


def machine_speed() -> float:
    """Textbook SimPy requests per CPU second (random routing over 64 servers, load 0.9) in this process."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from engine import MODELS, textbook  # only here: the rest of this script needs no orchsim in its own process

    model = next(m for m in MODELS if m.key == "rnd")
    gc.collect()  # as engine.py does before each timed run
    started = time.process_time()
    requests = textbook(model, SPEED_REQUESTS)
    return requests / (time.process_time() - started)


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


def flagship(seeds: int, duration: str, jobs: int, tree: Path, console: Console) -> None:
    """Time the flagship's 11-row comparison with the sources of ``tree``; print wall, CPU and the estimate,
    and the machine's speed before and after (``machine_speed``)."""
    speed_before = machine_speed()
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "sim", "compare", "chatgpt-2026-02-04", "--seeds", str(seeds)]
        command += ["--jobs", str(jobs), "--rank-by", "uptime", "--no-plots", "--out", str(Path(tmp) / "out")]
        command += [*FLAGSHIP_ROWS, "--set", f"duration={duration}"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, env={**os.environ, "PYTHONPATH": str(tree)}
        )
        wall_s = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"compare failed with exit {done.returncode}:\n{done.stderr}")
        runs = len(json.loads((Path(tmp) / "out" / "comparison.json").read_text())["runs"])
    cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    estimate_s = cpu_s * 10 / seeds / 2
    console.print(
        f"flagship compare ({tree}): {runs} runs of {duration}, --jobs {jobs}: wall {wall_s:.1f} s, CPU {cpu_s:.1f} s "
        f"({cpu_s / runs:.1f} CPU s a run); 11 rows x 10 seeds on two free cores ~= {estimate_s / 60:.1f} min "
        f"(target <= {FLAGSHIP_TARGET_S / 60:.0f} min: {'PASS' if estimate_s <= FLAGSHIP_TARGET_S else 'MISS'})"
    )
    speed_after = machine_speed()
    speed = (speed_before + speed_after) / 2
    console.print(
        f"machine speed: textbook SimPy (random, 64 servers) {speed_before:,.0f} req/CPU-s before, "
        f"{speed_after:,.0f} after; a run cost {cpu_s / runs * speed:,.0f} textbook requests"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=None, help="default: 10 (1 with --flagship)")
    parser.add_argument("--duration", default=None, help="default: 1h (24h with --flagship)")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--flagship", action="store_true", help="time the flagship's 11-row comparison instead")
    parser.add_argument("--jobs", type=int, default=2, help="--flagship: processes")
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parent.parent, help="--flagship: sources")
    args, _ = parser.parse_known_args(argv)
    console = Console(width=120)
    console.print(f"load average (1 min) at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.flagship:
        flagship(args.seeds or 1, args.duration or "24h", args.jobs, args.tree.resolve(), console)
        console.print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f}")
        return
    args.seeds, args.duration = args.seeds or 10, args.duration or "1h"
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
