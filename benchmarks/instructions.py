"""Instructions per simulated request of ``Simulation.run``, counted by valgrind's callgrind.

The load-independent measure of the engine's speed: CPU and wall ratios move by +-20% on a shared
machine, an instruction count does not. For each model, two fresh processes run under
``valgrind --tool=callgrind``: one builds the ``Simulation`` and runs it, the other only builds it
(same imports, same trace); the difference of their instruction counts, over the user requests of
the trace, is what one simulated request costs the engine's event loop (records included,
``summarize()`` not). ``PYTHONHASHSEED=0`` and no address randomisation (``setarch``) keep hashes,
and so dict probing, alike between the two and from run to run.

Models: the M/M/16 central queue and random routing over 64 servers at load 0.9
(``benchmarks/engine.py``'s models), and with ``--flagship DURATION`` the flagship scenario's incident
day cut to that duration (warmup 0). ``--textbook`` also counts ``engine.py``'s textbook SimPy model of each (its
whole run, records in lists, minus a process that only imports): the engine's speed-up in instructions,
without ``summarize()``. Needs ``valgrind`` on the PATH; a benchmark, not a test (it never asserts).

    python benchmarks/instructions.py [--requests 10000] [--models mmc rnd] [--flagship 20m] [--textbook]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import MODELS, SEED, scenario_of, textbook

from sim.engine import Simulation
from sim.scenario import Scenario
from sim.scenario.loading import load_scenario

FLAGSHIP = Path(__file__).resolve().parent.parent / "scenarios" / "chatgpt-2026-02-04.yaml"
COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")
# the same addresses in every run (object ids hash the engine's dicts): without it a count moves by ~2%
NO_ASLR = ["setarch", platform.machine(), "--addr-no-randomize"] if shutil.which("setarch") else []


def child(model: str, requests: int, run: bool) -> None:
    """Hidden mode under callgrind: build (and with ``run``, run) one simulation; print its user requests."""
    scenario: Scenario
    if model.startswith("textbook="):  # engine.py's textbook SimPy model: its whole run (nothing to build)
        print(textbook(next(m for m in MODELS if m.key == model.split("=", 1)[1]), requests) if run else requests)
        return
    if model.startswith("flagship="):
        scenario = load_scenario(FLAGSHIP, [f"duration={model.split('=', 1)[1]}", "warmup=0"])
        sim = Simulation(scenario)
    else:
        scenario = scenario_of(next(m for m in MODELS if m.key == model), requests)
        sim = Simulation(scenario, seed=SEED)
    if run:
        sim.run()
    print(len(sim.clients.arrival_s))


def instructions(model: str, requests: int, run: bool) -> tuple[int, int]:
    """Instructions callgrind counted in one child process, and the user requests it simulated."""
    command = [
        *NO_ASLR,
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        model,
        str(requests),
        "run" if run else "build",
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    found = COLLECTED.findall(done.stderr)
    if not found:
        raise RuntimeError(f"callgrind printed no instruction count:\n{done.stderr[-2000:]}")
    return int(found[-1]), int(done.stdout.split()[-1])


def per_request(model: str, requests: int) -> tuple[float, int]:
    """Instructions a simulated request costs ``Simulation.run`` on ``model``, and the requests simulated."""
    ran, simulated = instructions(model, requests, True)
    built, _ = instructions(model, requests, False)
    return (ran - built) / simulated, simulated


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000, help="requests of each model's run (default 10000)")
    parser.add_argument("--models", nargs="*", default=["mmc", "rnd"], choices=[m.key for m in MODELS])
    parser.add_argument("--flagship", default=None, help="also the flagship's incident day cut to this duration")
    parser.add_argument("--textbook", action="store_true", help="also the textbook SimPy model of each model")
    parser.add_argument("--child", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        model, requests, mode = args.child
        child(model, int(requests), mode == "run")
        return
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: nothing to count", file=sys.stderr)
        sys.exit(2)
    keys = [*args.models, *([] if args.flagship is None else [f"flagship={args.flagship}"])]
    if args.textbook:
        keys += [f"textbook={key}" for key in args.models]
    labels = {m.key: m.label for m in MODELS} | {f"textbook={m.key}": f"textbook SimPy, {m.label}" for m in MODELS}
    print("instructions per simulated request of Simulation.run (callgrind; a run minus the same process built only)")
    for key in keys:
        cost, simulated = per_request(key, args.requests)
        label = labels.get(key, f"flagship, incident day cut to {key.split('=', 1)[-1]}")
        print(f"{label:45s} {simulated:8,d} requests {cost:12,.0f} instructions/request", flush=True)


if __name__ == "__main__":
    main()
