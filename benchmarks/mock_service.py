"""Benchmark of the mock service's router: requests/s through it, and the latency it adds.

    python benchmarks/mock_service.py [--seconds 10] [--connections 64]

Starts ``orchsim serve`` with one backend server of near-zero service time (1 us, 10,000 slots),
then runs the load generator (an aiohttp client in its own process, keep-alive connections):
1. closed loop with N connections for T seconds through the router: the most requests/s;
2. open loop at half the measured rate (information) and at 750 requests/s (half the target),
   through the router and straight to the backend server: latency percentiles of both and their
   difference, the router's added latency.
Targets: >= 1,500 requests/s through the router; p99 added latency < 5 ms at 750 requests/s.
A benchmark, not a test: it prints and never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import yaml

SCENARIO = {
    "name": "bench-mock",
    "duration": "1h",
    "workload": {"rate": 1},
    "clusters": [{"name": "a", "servers": 1, "slots": 10000, "service": {"kind": "deterministic", "mean": 1e-6}}],
    "router": {"strategy": "round_robin"},
}
TARGET_RPS = 1500.0  # the target through the router; added latency is judged at half of it
BODY = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}


async def closed_loop(url: str, connections: int, seconds: float) -> int:
    import aiohttp

    done = 0
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                async with session.post(url, json=BODY) as response:
                    await response.read()
                    done += response.status == 200

        await asyncio.gather(*(worker() for _ in range(connections)))
    return done


async def open_loop(url: str, rate: float, seconds: float) -> list[float]:
    """Send at ``rate`` per second on schedule; latency measured from the scheduled send time."""
    import aiohttp

    latencies: list[float] = []
    start = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(scheduled: float) -> None:
            async with session.post(url, json=BODY) as response:
                await response.read()
            latencies.append(time.perf_counter() - scheduled)

        tasks = []
        for k in range(int(rate * seconds)):
            scheduled = start + k / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            tasks.append(asyncio.create_task(one(scheduled)))
        await asyncio.gather(*tasks)
    return latencies


def generator_main(args: argparse.Namespace) -> None:
    """The load generator process: prints one JSON line of results."""
    import uvloop

    if args.mode == "closed":
        print(json.dumps({"ok": uvloop.run(closed_loop(args.url, args.connections, args.seconds))}))
    else:
        print(json.dumps({"latencies": uvloop.run(open_loop(args.url, args.rate, args.seconds))}))


def run_generator(*args: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, __file__, "--generator", *args], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--generator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="closed", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=0.0, help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.generator:
        generator_main(args)
        return
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(yaml.safe_dump(SCENARIO))
        server = subprocess.Popen(
            [sys.executable, "-m", "sim", "serve", str(path), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_ready(port, server)
            report(port, args)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


def wait_ready(port: int, server: subprocess.Popen[bytes], limit_s: float = 60.0) -> None:
    """Until the router's ``/ready`` answers 200 (every backend up and discovered)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"orchsim serve exited with code {server.returncode} (port {port} or the next taken?)")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"orchsim serve not ready within {limit_s:.0f} s")


def server_port(backend_port: int) -> int:
    """The port server 0 of the backend process listens on (its ``/servers`` list)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{backend_port}/servers", timeout=5) as response:
        return int(json.load(response)["servers"][0]["port"])


def report(port: int, args: argparse.Namespace) -> None:
    router = f"http://127.0.0.1:{port}/v1/chat/completions"
    backend = f"http://127.0.0.1:{server_port(port + 1)}/v1/chat/completions"
    seconds = str(args.seconds)
    ok = int(
        str(
            run_generator(
                "--mode", "closed", "--url", router, "--seconds", seconds, "--connections", str(args.connections)
            )["ok"]
        )
    )
    rps = ok / args.seconds
    print(
        f"orchsim mock service benchmark on {os.cpu_count()} cores; load generator: aiohttp client in its own "
        f"process ({args.connections} keep-alive connections closed-loop, then open-loop at a fixed rate)"
    )
    print(f"through the router: {rps:,.0f} requests/s (target >= 1,500: {'PASS' if rps >= 1500 else 'MISS'})")
    for rate, what in ((rps / 2, "half the measured maximum"), (TARGET_RPS / 2, "half the 1,500 target")):
        via, direct = (
            np.array(
                run_generator("--mode", "open", "--url", url, "--rate", str(rate), "--seconds", seconds)["latencies"]
            )
            for url in (router, backend)
        )
        p50, p99 = (np.percentile(via, q) - np.percentile(direct, q) for q in (50, 99))
        print(
            f"at {rate:,.0f} requests/s ({what}): via router p50 {np.percentile(via, 50) * 1e3:.2f} ms, p99 "
            f"{np.percentile(via, 99) * 1e3:.2f} ms; straight to the backend p50 "
            f"{np.percentile(direct, 50) * 1e3:.2f} ms, p99 {np.percentile(direct, 99) * 1e3:.2f} ms"
        )
        verdict = "PASS" if p99 < 0.005 else "MISS"
        target = f"target p99 < 5 ms: {verdict}" if rate == TARGET_RPS / 2 else "information"
        print(f"  router's added latency: p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms ({target})")


if __name__ == "__main__":
    main()
