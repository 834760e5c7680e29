"""Speed benchmark: orchsim's engine against a textbook SimPy model of the same queue, measured in the same run.

Models (one core, one process):
  * M/M/16 at load 0.9: 16 single-slot servers, Poisson arrivals at 14.4/s, exponential service of mean 1 s.
  * random routing: 64 single-slot servers, Poisson arrivals at 57.6/s, same service; each request joins
    a server drawn uniformly (64 independent M/M/1 queues at load 0.9: long queues, every request recorded).
  * power of two choices: 64 single-slot servers, Poisson arrivals at 57.6/s, same service; each request
    samples two distinct servers and joins the one with fewer requests (in service + queued).

The textbook baseline is plain SimPy written the usual way (a process per request, ``simpy.Resource``, scalar
numpy draws, Python lists of wait and response times). orchsim runs with all of its bookkeeping on: per-attempt
records plus ``sim.analysis.metrics.summarize``. Targets (issue #18): orchsim/textbook >= 4.0 on every model, and a peak
RSS of at most 250 MB for a 1,000,000-request orchsim run (measured in a fresh subprocess).

This is not a test: it never asserts, it prints a table and PASS/MISS per target.

    python benchmarks/engine.py [--requests N] [--repeat K] [--memory-requests N]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy
from rich.console import Console
from rich.table import Table

from sim.analysis.metrics import summarize
from sim.engine import Simulation
from sim.scenario import Scenario
from sim.scenario.loading import parse_scenario

SPEED_TARGET = 4.0
MEMORY_TARGET_MB = 250.0
SERVICE_MEAN_S = 1.0
SEED = 1


@dataclass(frozen=True)
class Model:
    """One queueing model, described once for both implementations."""

    key: str
    label: str
    servers: int
    rate: float
    strategy: str


MODELS = (
    Model("mmc", "M/M/16 (load 0.9)", 16, 14.4, "central_queue"),
    Model("rnd", "random, 64 servers (load 0.9)", 64, 57.6, "random"),
    Model("p2c", "power of two, 64 servers (load 0.9)", 64, 57.6, "power_of_two"),
)

Runner = Callable[[Model, int], int]  # runs the model for about N requests, returns how many it simulated


# --- textbook SimPy -----------------------------------------------------------------------------------------


def _source(
    env: simpy.Environment,
    rng: np.random.Generator,
    n: int,
    rate: float,
    spawn: Callable[[], Generator[Any, Any, None]],
) -> Generator[Any, Any, None]:
    """Poisson arrivals: ``n`` requests, one process each."""
    mean_gap = 1.0 / rate
    for _ in range(n):
        yield env.timeout(rng.exponential(mean_gap))
        env.process(spawn())


def textbook_mmc(model: Model, n: int) -> int:
    """M/M/c with one ``simpy.Resource(capacity=c)``; runs until every request has finished."""
    env = simpy.Environment()
    rng = np.random.default_rng(SEED)
    pool = simpy.Resource(env, capacity=model.servers)
    waits: list[float] = []
    responses: list[float] = []

    def request() -> Generator[Any, Any, None]:
        arrived = env.now
        with pool.request() as req:
            yield req
            waits.append(env.now - arrived)
            yield env.timeout(rng.exponential(SERVICE_MEAN_S))
        responses.append(env.now - arrived)

    env.process(_source(env, rng, n, model.rate, request))
    env.run()
    return len(responses)


Pick = Callable[[list[simpy.Resource], np.random.Generator], simpy.Resource]


def _per_server(model: Model, n: int, pick: Pick) -> int:
    """``servers`` single-capacity ``simpy.Resource`` objects; ``pick`` chooses each request's server."""
    env = simpy.Environment()
    rng = np.random.default_rng(SEED)
    servers = [simpy.Resource(env, capacity=1) for _ in range(model.servers)]
    waits: list[float] = []
    responses: list[float] = []

    def request() -> Generator[Any, Any, None]:
        arrived = env.now
        with pick(servers, rng).request() as req:
            yield req
            waits.append(env.now - arrived)
            yield env.timeout(rng.exponential(SERVICE_MEAN_S))
        responses.append(env.now - arrived)

    env.process(_source(env, rng, n, model.rate, request))
    env.run()
    return len(responses)


def _two_choices(servers: list[simpy.Resource], rng: np.random.Generator) -> simpy.Resource:
    """Two distinct servers at random; the one with fewer requests (in service + queued)."""
    first = int(rng.integers(len(servers)))
    second = int(rng.integers(len(servers) - 1))
    second += second >= first
    a, b = servers[first], servers[second]
    return b if len(b.queue) + b.count < len(a.queue) + a.count else a


def _one_at_random(servers: list[simpy.Resource], rng: np.random.Generator) -> simpy.Resource:
    return servers[int(rng.integers(len(servers)))]


def textbook_p2c(model: Model, n: int) -> int:
    """Power of two choices over single-capacity ``simpy.Resource`` objects."""
    return _per_server(model, n, _two_choices)


def textbook_random(model: Model, n: int) -> int:
    """Random routing over single-capacity ``simpy.Resource`` objects."""
    return _per_server(model, n, _one_at_random)


TEXTBOOK: dict[str, Runner] = {"mmc": textbook_mmc, "rnd": textbook_random, "p2c": textbook_p2c}


def textbook(model: Model, n: int) -> int:
    """The textbook SimPy run of ``model``."""
    return TEXTBOOK[model.key](model, n)


# --- orchsim ------------------------------------------------------------------------------------------------


def scenario_of(model: Model, n: int) -> Scenario:
    """The orchsim scenario of ``model`` for ``n / rate`` simulated seconds (about ``n`` requests)."""
    return parse_scenario(
        {
            "name": f"bench-{model.key}",
            "duration": n / model.rate,
            "warmup": 0,
            "drain": 0,
            "workload": {"rate": model.rate},
            "clusters": [
                {
                    "name": "pool",
                    "servers": model.servers,
                    "slots": 1,
                    "service": {"kind": "exponential", "mean": SERVICE_MEAN_S},
                }
            ],
            "router": {"strategy": model.strategy},
        },
        "bench",
    )


def orchsim(model: Model, n: int) -> int:
    """orchsim's engine on ``model`` for ``n / rate`` simulated seconds, records and ``summarize()`` included."""
    result = Simulation(scenario_of(model, n), seed=SEED).run()
    summarize(result)
    return len(result.arrival_s)


# --- measurement --------------------------------------------------------------------------------------------


@dataclass
class Speed:
    """Best (shortest) wall and CPU times over repeats, and the requests that run simulated.

    On a shared machine the CPU time of this process (``time.process_time``) is the steadier figure:
    the wall time also counts the time other processes held the core.
    """

    wall_s: float = float("inf")
    cpu_s: float = float("inf")
    requests: int = 0

    @property
    def per_s(self) -> float:
        return self.requests / self.wall_s

    @property
    def per_cpu_s(self) -> float:
        return self.requests / self.cpu_s

    def add(self, runner: Runner, model: Model, n: int) -> None:
        gc.collect()
        started, started_cpu = time.perf_counter(), time.process_time()
        requests = runner(model, n)
        wall_s, cpu_s = time.perf_counter() - started, time.process_time() - started_cpu
        self.requests = requests
        self.wall_s, self.cpu_s = min(self.wall_s, wall_s), min(self.cpu_s, cpu_s)


def measure(model: Model, n: int, repeat: int) -> tuple[Speed, Speed]:
    """Textbook and orchsim speeds, interleaved so that machine noise hits both alike."""
    base, ours = Speed(), Speed()
    for _ in range(repeat):
        base.add(textbook, model, n)
        ours.add(orchsim, model, n)
    return base, ours


def memory_child(n: int) -> None:
    """Hidden mode of a fresh process: one orchsim M/M/c run, then print ``requests after_imports_kib peak_kib``."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    requests = orchsim(MODELS[0], n)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(requests, before, peak)


def _force_fork() -> None:
    """A no-op ``preexec_fn``: it makes ``subprocess`` fork() rather than vfork()/posix_spawn().

    After vfork+exec, Linux carries the parent's peak RSS into the child's ``ru_maxrss``; after fork+exec only
    the parent's RSS at fork time, which is why ``main`` measures memory before the speed runs grow this process.
    """


def measure_memory(n: int) -> tuple[int, float, float]:
    """Run ``memory_child`` in a subprocess; requests simulated, RSS after imports and peak RSS (MB)."""
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--memory-child", str(n)],
        check=True,
        capture_output=True,
        text=True,
        preexec_fn=_force_fork,
    ).stdout.split()
    requests, before_kib, peak_kib = (int(v) for v in out[-3:])
    return requests, before_kib / 1024, peak_kib / 1024


# --- report -------------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "[green]PASS[/green]" if ok else "[red]MISS[/red]"


def header(console: Console, args: argparse.Namespace) -> None:
    blas = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")}
    console.print("[bold]orchsim engine benchmark[/bold] (one core, one process; ratios against a same-run baseline)")
    console.print(f"load average (1 min) at start: {os.getloadavg()[0]:.1f}")
    console.print(
        f"python {platform.python_version()} ({platform.python_implementation()}), numpy {np.__version__}, "
        f"simpy {simpy.__version__}, os.cpu_count()={os.cpu_count()}, {platform.machine()} {platform.system()}"
    )
    console.print(f"OPENBLAS env vars (left as found): {blas or 'none'}")
    console.print(f"requests per run {args.requests:,}, best of {args.repeat}; memory run {args.memory_requests:,}")


def speed_table(rows: list[tuple[Model, Speed, Speed]]) -> Table:
    table = Table(
        title=f"Simulated requests per CPU second and per wall second (target orchsim/textbook >= {SPEED_TARGET:.1f})"
    )
    columns = ("model", "textbook req/cpu-s", "orchsim req/cpu-s", "ratio (CPU)", "ratio (wall)", "target")
    for name in columns:
        table.add_column(name, justify="left" if name == "model" else "right")
    for model, base, ours in rows:
        ratio = ours.per_cpu_s / base.per_cpu_s
        table.add_row(
            model.label,
            f"{base.per_cpu_s:,.0f}",
            f"{ours.per_cpu_s:,.0f}",
            f"{ratio:.2f}x",
            f"{ours.per_s / base.per_s:.2f}x",
            verdict(ratio >= SPEED_TARGET),
        )
    return table


def memory_table(requests: int, before_mb: float, peak_mb: float) -> Table:
    table = Table(title=f"Peak memory of one orchsim M/M/c run with summarize() (target <= {MEMORY_TARGET_MB:.0f} MB)")
    for name in ("requests", "RSS after imports MB", "peak RSS MB", "target"):
        table.add_column(name, justify="right")
    table.add_row(f"{requests:,}", f"{before_mb:.1f}", f"{peak_mb:.1f}", verdict(peak_mb <= MEMORY_TARGET_MB))
    return table


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200_000, help="requests per speed run (default 200000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per implementation; best is kept (default 3)")
    parser.add_argument(
        "--memory-requests", type=int, default=1_000_000, help="requests of the memory run (0: no memory run)"
    )
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.memory_child is not None:
        memory_child(args.memory_child)
        return
    console = Console(highlight=False, width=120)
    header(console, args)
    if args.requests < 1 or args.repeat < 1 or args.memory_requests < 0:
        console.print("--requests and --repeat must be at least 1, --memory-requests at least 0")
        sys.exit(2)
    # the memory run first, while this process is still small (see _force_fork)
    memory = measure_memory(args.memory_requests) if args.memory_requests else None
    rows = [(model, *measure(model, args.requests, args.repeat)) for model in MODELS]
    console.print(speed_table(rows))
    if memory is not None:
        console.print(memory_table(*memory))


if __name__ == "__main__":
    main()
