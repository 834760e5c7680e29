"""Run every benchmark script in this folder (but identical.py), one after another, with the same Python.

    python benchmarks/run.py [ARGS...]   # ARGS are passed to every script

Exits non-zero if a script crashed; a missed target is reported by the script itself, not as a failure.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def scripts() -> list[Path]:
    """Benchmark scripts: every ``*.py`` here except this runner and private modules."""
    skip = {Path(__file__).name, "identical.py"}  # identical.py checks results, not speed (it needs --reference)
    return sorted(p for p in HERE.glob("*.py") if p.name not in skip and not p.name.startswith("_"))


def main(argv: list[str]) -> int:
    failed = []
    for script in scripts():
        print(f"=== {script.name} ===", flush=True)
        if subprocess.run([sys.executable, str(script), *argv], check=False).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"crashed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
