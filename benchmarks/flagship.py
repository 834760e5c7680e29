"""Speed of ``orchsim run`` on the flagship scenario (the incident and its baseline) against textbook SimPy.

Runs, in one process and interleaved: the textbook SimPy model of 64 single-slot servers with random routing
at load 0.9 (``benchmarks/engine.py``, a process per request), and ``orchsim run`` of the flagship scenario
without plots (both days, written to a temporary folder), with ``--jobs 1`` (one process after the other) or
``--jobs 2`` (``orchsim run``'s default: the incident and its baseline in two processes). Flagship requests per second
count every simulated user request of both days over the wall time of the whole command.
Target (issue #18): flagship / textbook >= 2.0. A benchmark, not a test: it never asserts.

    python benchmarks/flagship.py [--duration 24h] [--jobs 1|2] [--repeat 1] [--textbook-requests 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import MODELS, Speed, textbook

from sim.cli import commands

TARGET = 2.0
TEXTBOOK = next(m for m in MODELS if m.key == "rnd")


def flagship(duration: str | None, jobs: int) -> tuple[int, float, float]:
    """Simulated requests (both days), wall seconds and CPU seconds (this process and its children) of one
    ``orchsim run`` of the flagship scenario."""
    overrides = [] if duration is None else [f"duration={duration}"]
    with tempfile.TemporaryDirectory() as tmp:
        started, started_cpu = time.perf_counter(), _cpu_s()
        with open(os.devnull, "w") as sink:
            stdout, sys.stdout = sys.stdout, sink
            try:
                commands.run(None, None, overrides, tmp, False, overwrite=True, jobs=jobs)
            finally:
                sys.stdout = stdout
        wall_s, cpu_s = time.perf_counter() - started, _cpu_s() - started_cpu
        requests = 0
        for path in Path(tmp).rglob("summary.json"):
            summary = json.loads(path.read_text())
            requests += round(summary["requests_per_wall_s"] * summary["wall_s"])
    return requests, wall_s, cpu_s


def _cpu_s() -> float:
    """CPU seconds of this process and of its children that ended (the second process of ``--jobs 2``)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", default=None, help="override the scenario's duration (default: its 24h)")
    parser.add_argument("--jobs", type=int, choices=(1, 2), default=2, help="processes for the two days")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best is kept")
    parser.add_argument("--textbook-requests", type=int, default=100_000)
    args = parser.parse_args(argv)
    console = Console(highlight=False, width=120)
    console.print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    base, ours = Speed(), Speed()
    for _ in range(args.repeat):
        base.add(textbook, TEXTBOOK, args.textbook_requests)
        requests, wall_s, cpu_s = flagship(args.duration, args.jobs)
        ours.requests = requests
        ours.wall_s, ours.cpu_s = min(ours.wall_s, wall_s), min(ours.cpu_s, cpu_s)
    table = Table(title=f"orchsim run (flagship, {args.duration or '24h'}, --jobs {args.jobs}) vs textbook SimPy")
    names = ("textbook req/s", "flagship req/s", "flagship requests", "flagship wall s", "CPU s", "ratio (wall)")
    for name in (*names, "target"):
        table.add_column(name, justify="right")
    ratio = ours.per_s / base.per_s
    table.add_row(
        f"{base.per_s:,.0f}",
        f"{ours.per_s:,.0f}",
        f"{ours.requests:,}",
        f"{ours.wall_s:.1f}",
        f"{ours.cpu_s:.1f}",
        f"{ratio:.2f}x",
        "[green]PASS[/green]" if ratio >= TARGET else "[red]MISS[/red]",
    )
    console.print(table)
    console.print(
        f"per CPU second: textbook {base.per_cpu_s:,.0f} req/s, flagship {ours.requests / ours.cpu_s:,.0f} req/s "
        f"({ours.requests / ours.cpu_s / base.per_cpu_s:.2f}x; with --jobs 2 the wall ratio can exceed this)"
    )
    console.print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
