"""Benchmark: the latency a real balancer (HAProxy, nginx) adds in front of the mock backends.

    python benchmarks/balancer_overhead.py [--rate 60] [--seconds 20]

For each balancer installed: start it (configured by orchsim from a scenario of 8 servers with a
near-zero service time, round robin) in front of the mock backend process, then send an open-loop
stream at ``--rate`` requests/s (default 60: validate-strategies' 6 requests/s at time scale 10) with
the aiohttp load generator of ``benchmarks/mock_service.py``, through the balancer and straight to one
server in ``--rounds`` alternating blocks (so that a busy machine's drifting load hits both alike);
the difference of the percentiles is the balancer's added latency.
Target: p99 added < 1 ms. The balancer's processes' CPU time per request (Linux /proc) is printed too:
its own work, which a busy machine's scheduling delays do not inflate. A benchmark, not a test: it
prints and never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

from loadtest.balancers.serve import balanced_topology
from loadtest.balancers.topology import free_port_block
from sim.scenario.loading import load_scenario

SCENARIO = {
    "name": "bench-balancer",
    "duration": "1h",
    "workload": {"rate": 6},
    "clusters": [{"name": "pool", "servers": 8, "slots": 10000, "service": {"kind": "deterministic", "mean": 1e-6}}],
    "router": {"strategy": "round_robin"},
}
GENERATOR = Path(__file__).with_name("mock_service.py")


def latencies_s(url: str, rate: float, seconds: float) -> np.ndarray:
    command = [sys.executable, str(GENERATOR), "--generator", "--mode", "open", "--url", url]
    command += ["--rate", str(rate), "--seconds", str(seconds)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return np.array(json.loads(done.stdout)["latencies"])


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` and its children now running (nginx's workers)."""
    pids = [pid, *(int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    total = 0
    for one in pids:
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return total / os.sysconf("SC_CLK_TCK")


def measure(implementation: str, rate: float, seconds: float, folder: Path, rounds: int) -> None:
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    scenario = load_scenario(path)
    topology = balanced_topology(path, scenario, implementation, free_port_block(1), 1.0, folder / implementation, [])
    try:
        topology.start(ready_timeout_s=60)
        server = topology.servers[0]
        urls = (f"http://{server.host}:{server.port}/v1/chat/completions", f"{topology.url}/v1/chat/completions")
        parts: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        balancer_cpu_s = 0.0
        for _ in range(rounds):  # alternate short blocks: the machine's load drifts alike for both
            for side, url in enumerate(urls):
                before_s = cpu_s(topology.process.pid) if side and topology.process else 0.0
                parts[side].append(latencies_s(url, rate, seconds / rounds))
                if side and topology.process:
                    balancer_cpu_s += cpu_s(topology.process.pid) - before_s
        direct, via = (np.concatenate(p) for p in parts)
    finally:
        topology.stop()
    print(
        f"{implementation}: {balancer_cpu_s / via.size * 1e6:.0f} us of CPU per request in the balancer's processes "
        f"({via.size} requests): its own work, whatever else the machine runs"
    )
    p50, p99 = (np.percentile(via, q) - np.percentile(direct, q) for q in (50, 99))
    print(
        f"{implementation} {topology.version} at {rate:g} requests/s: via the balancer p50 "
        f"{np.percentile(via, 50) * 1e3:.2f} ms, p99 {np.percentile(via, 99) * 1e3:.2f} ms; straight to a server p50 "
        f"{np.percentile(direct, 50) * 1e3:.2f} ms, p99 {np.percentile(direct, 99) * 1e3:.2f} ms"
    )
    verdict = "PASS" if p99 < 0.001 else "MISS"
    print(f"  added: p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms (target p99 < 1 ms: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=60.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=4, help="alternating blocks per side (default 4)")
    args = parser.parse_args()
    print(f"balancer overhead on {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        for implementation in ("haproxy", "nginx"):
            if shutil.which(implementation) is None:
                print(f"{implementation}: not installed, skipped")
                continue
            measure(implementation, args.rate, args.seconds, Path(tmp), args.rounds)


if __name__ == "__main__":
    main()
