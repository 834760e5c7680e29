"""The compiled engine (mypyc, ``sim/compiled.py``) and its pure-Python sources give byte-identical outputs.

``pip install -e .`` compiles the engine's hot modules when mypyc and a C compiler are there. Each scenario
here runs twice, in two processes: with the compiled modules, and with ``ORCHSIM_PURE_PYTHON=1`` (their
sources); every output file must match except the wall-clock figures. Skipped when the compiled modules
are not built, unless ``ORCHSIM_REQUIRE_COMPILED=1`` (``.ci/run`` sets it), where that fails instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sim.compiled import MODULES, PURE_ENV, compiled_engine

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_ENV = "ORCHSIM_REQUIRE_COMPILED"
WALL_CLOCK = {"summary.json": {"wall_s", "events", "requests_per_wall_s"}, "run.json": {"run_id"}}
# diverse paths through the engine: central queue, power of two, crashes and retries, the LLM servers
SCENARIOS = (
    ("mmc-textbook", ("duration=1h",)),
    ("power-of-two-choices", ("duration=30m",)),
    ("validate-crash", ()),
    ("crash-retry-storm", ("duration=20m",)),
    ("chatgpt-2026-02-04", ("duration=1h", "warmup=0")),
)


@pytest.fixture(scope="module", autouse=True)
def compiled() -> None:
    """Skip (or, with ORCHSIM_REQUIRE_COMPILED=1, fail) when the compiled engine is not built."""
    if compiled_engine():
        return
    reason = (
        f"the compiled engine is not built or not in use ({PURE_ENV} set, installed without mypyc or a C "
        "compiler, or its sources edited since): pip install -e . builds it"
    )
    if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
        pytest.fail(f"{REQUIRE_ENV} is set but {reason}")
    pytest.skip(reason)


def environment(pure: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != PURE_ENV}
    return {**env, PURE_ENV: "1"} if pure else env


def engine_files(pure: bool) -> dict[str, str]:
    """Where each compiled module loads from in a fresh process, with or without ORCHSIM_PURE_PYTHON."""
    code = "import importlib, json, sys; print(json.dumps([importlib.import_module(m).__file__ for m in sys.argv[1:]]))"
    done = subprocess.run(
        [sys.executable, "-c", code, *MODULES], capture_output=True, text=True, env=environment(pure), check=True
    )
    return dict(zip(MODULES, json.loads(done.stdout), strict=True))


def version(pure: bool) -> str:
    """What ``orchsim --version`` prints, with or without ORCHSIM_PURE_PYTHON."""
    command = [sys.executable, "-m", "sim", "--version"]
    return subprocess.run(command, capture_output=True, text=True, env=environment(pure), check=True).stdout


def test_the_switch_chooses_the_sources_or_the_extensions() -> None:
    compiled, pure = engine_files(pure=False), engine_files(pure=True)
    assert all(not path.endswith(".py") for path in compiled.values()), compiled
    assert all(path.endswith(".py") for path in pure.values()), pure
    assert "compiled by mypyc" in version(pure=False) and "pure Python" in version(pure=True)


def without_wall_clock(value: Any, keys: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: without_wall_clock(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [without_wall_clock(v, keys) for v in value]
    return value


def run(scenario: str, overrides: tuple[str, ...], out: Path, pure: bool) -> None:
    command = [sys.executable, "-m", "sim", "run", scenario, "--no-plots", "--out", str(out)]
    for item in overrides:
        command += ["--set", item]
    done = subprocess.run(command, capture_output=True, text=True, env=environment(pure), cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(("scenario", "overrides"), SCENARIOS, ids=[s for s, _ in SCENARIOS])
def test_compiled_and_pure_engines_write_the_same_outputs(
    scenario: str, overrides: tuple[str, ...], tmp_path: Path
) -> None:
    run(scenario, overrides, tmp_path / "compiled", pure=False)
    run(scenario, overrides, tmp_path / "pure", pure=True)
    compiled = sorted(p.relative_to(tmp_path / "compiled") for p in (tmp_path / "compiled").rglob("*") if p.is_file())
    pure = sorted(p.relative_to(tmp_path / "pure") for p in (tmp_path / "pure").rglob("*") if p.is_file())
    assert compiled == pure
    assert Path("summary.json") in compiled
    for name in compiled:
        a, b = tmp_path / "compiled" / name, tmp_path / "pure" / name
        if name.name in WALL_CLOCK:
            keys = WALL_CLOCK[name.name]
            assert without_wall_clock(json.loads(a.read_text()), keys) == without_wall_clock(
                json.loads(b.read_text()), keys
            ), name
        else:
            assert a.read_bytes() == b.read_bytes(), name
