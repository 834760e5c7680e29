"""Same seed, same results: run shipped scenarios with two source trees and diff every output file.

An engine change that claims "unchanged results" runs this against a reference tree (for example
the main checkout): each scenario runs once per tree (``python -m sim run --no-plots``), then every
file of the two output folders must be byte-identical, except the wall-clock figures of
``summary.json`` (``wall_s``, ``events``, ``requests_per_wall_s``) and the ``run_id`` of
``run.json``, which are compared after removing them. Exit code 0 when everything matches, 1
otherwise; the differing files are named.

    python benchmarks/identical.py --reference /work/main [--out /tmp/identical] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
WALL_KEYS = frozenset({"wall_s", "events", "requests_per_wall_s"})
VOLATILE = {"summary.json": WALL_KEYS, "run.json": frozenset({"run_id"})}  # JSON keys that differ by design

# (name, scenario file, overrides): diverse paths through the engine, each a few seconds long
CASES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("flagship", "scenarios/chatgpt-2026-02-04.yaml", ("duration=8h",)),
    ("reasoning-hol", "scenarios/reasoning-hol.yaml", ()),
    ("crash-retry-storm", "scenarios/crash-retry-storm.yaml", ()),
    ("peak-hour-surge", "scenarios/peak-hour-surge.yaml", ("duration=1h",)),
    ("power-of-two", "scenarios/power-of-two-choices.yaml", ("duration=30m",)),
    ("mmc-textbook", "scenarios/mmc-textbook.yaml", ("duration=1h",)),
    ("healthcheck-cascade", "scenarios/healthcheck-cascade.yaml", ()),
    ("stale-load-herding", "scenarios/stale-load-herding.yaml", ()),
    ("gray-failure", "scenarios/gray-failure.yaml", ()),
    ("reasoning-pools", "scenarios/reasoning-pools.yaml", ()),
    ("retry-storm", "scenarios/retry-storm.yaml", ()),
    ("fast-fail-sinkhole", "scenarios/fast-fail-sinkhole.yaml", ()),
    ("validate-crash", "scenarios/validate-crash.yaml", ()),
)


def run_case(tree: Path, case: tuple[str, str, tuple[str, ...]], out: Path) -> float:
    """Run one case with the sources of ``tree`` into ``out``; return the wall time."""
    _, scenario, overrides = case
    command = [sys.executable, "-m", "sim", "run", str(HERE / scenario), "--no-plots", "--out", str(out)]
    for item in overrides:
        command += ["--set", item]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=tree, capture_output=True)
    return time.perf_counter() - started


def _without(value: Any, keys: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without(v, keys) for v in value]
    return value


def differences(left: Path, right: Path) -> list[str]:
    """Relative paths of the files that differ (or exist on one side only)."""
    names = {p.relative_to(left) for p in left.rglob("*") if p.is_file()}
    names |= {p.relative_to(right) for p in right.rglob("*") if p.is_file()}
    out = []
    for name in sorted(names):
        a, b = left / name, right / name
        if not (a.exists() and b.exists()):
            out.append(f"{name} (one side only)")
        elif name.name in VOLATILE:
            keys = VOLATILE[name.name]
            if _without(json.loads(a.read_text()), keys) != _without(json.loads(b.read_text()), keys):
                out.append(str(name))
        elif a.read_bytes() != b.read_bytes():
            out.append(str(name))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", required=True, help="source tree to compare with (e.g. /work/main)")
    parser.add_argument("--out", default="/tmp/identical", help="where both trees write their outputs")
    parser.add_argument("--only", nargs="*", default=None, help="case names to run (default: all)")
    parser.add_argument("--reuse-reference", action="store_true", help="keep reference outputs already there")
    args = parser.parse_args(argv)
    reference, out = Path(args.reference).resolve(), Path(args.out)
    failed = 0
    for case in CASES:
        name = case[0]
        if args.only and name not in args.only:
            continue
        ref_dir, new_dir = out / "reference" / name, out / "new" / name
        ref_s = float("nan")
        if not (args.reuse_reference and (ref_dir / "summary.json").exists()):
            ref_s = run_case(reference, case, ref_dir)
        new_s = run_case(HERE, case, new_dir)
        diff = differences(ref_dir, new_dir)
        failed += bool(diff)
        status = "IDENTICAL" if not diff else "DIFFERENT: " + ", ".join(diff)
        print(f"{name:22s} reference {ref_s:6.1f} s  new {new_s:6.1f} s  {status}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
