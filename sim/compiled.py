"""The engine's hot modules, compiled by mypyc when the package is installed with a C compiler.

``setup.py`` compiles ``MODULES`` (one shared library, ``sim/native__mypyc``) and falls back to pure
Python when mypyc or a compiler is missing, or when ``ORCHSIM_PURE_PYTHON=1`` is set at build time. The
two are the same engine with the same results; the compiled one needs ~1.6x fewer instructions a request.

At run time ``ORCHSIM_PURE_PYTHON=1`` makes the sources of these modules load instead of their compiled
extensions (``sim/__init__.py`` installs the finder below before anything imports them): tests run both
paths, and a user can rule the compiled engine out. This module imports nothing but the standard library:
``setup.py`` reads it before any dependency is installed.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

__all__ = ["GROUP", "MODULES", "PURE_ENV", "compiled_engine", "engine_label", "pure_requested", "stale", "use_sources"]

PURE_ENV = "ORCHSIM_PURE_PYTHON"  # set (not "0"): build without compiling; at run time, load the sources
GROUP = "sim.native"  # mypyc's shared library of the compiled modules: sim/native__mypyc.<suffix>
MODULES = (
    "sim.engine.heap",  # before the kernel and the LLM server, which use it
    "sim.engine.kernel",
    "sim.engine.attempt",
    "sim.engine.server",
    "sim.engine.llm_server",  # compiled as it is: LlmServer extends Server, a compiled class
    "sim.engine.step_server",
    "sim.engine.cluster",
    "sim.engine.client",
    "sim.engine.router",
    "sim.engine.records",
    "sim.control.capacity",  # the router's base class
    "sim.control.shedding",  # a full waiting room's search for a lower-priority victim, CoDel
    "sim.control.retry",  # the clients' backoff and retry rules
    "sim.workload.service",
    "sim.rng",  # the strategies' draws
    # the built-in strategies the shipped scenarios and the flagship's comparison route with; their base
    # (sim.strategies.base) stays Python: plug-in strategies subclass it, and a registered (decorated)
    # class compiles as a regular Python class with compiled methods, which may not extend a compiled one
    "sim.strategies.round_robin",
    "sim.strategies.least_connections",
    "sim.strategies.power_of_two",
    "sim.strategies.least_outstanding_tokens",
    "sim.strategies.random_choice",
    "sim.strategies.central_queue",
)


def pure_requested() -> bool:
    """``ORCHSIM_PURE_PYTHON`` is set to something other than empty or 0."""
    return os.environ.get(PURE_ENV, "") not in ("", "0")


ROOT = Path(__file__).resolve().parent.parent  # the folder holding the package ``sim``


def _extension(module: str, root: Path = ROOT) -> Path | None:
    """The compiled extension of ``module`` next to its source under ``root``, if one is installed."""
    source = _source(module, root)
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        built = source.with_name(source.stem + suffix)
        if built.exists():
            return built
    return None


def _source(module: str, root: Path = ROOT) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def stale(root: Path = ROOT) -> list[str]:
    """``MODULES`` whose source changed after their extension was built (an editable install edited since)."""
    out = []
    for module in MODULES:
        built = _extension(module, root)
        if built is not None and _source(module, root).stat().st_mtime > built.stat().st_mtime:
            out.append(module)
    return out


def compiled_engine() -> bool:
    """Whether this process runs (or, before the engine is imported, will run) the compiled engine: its
    extension modules are installed, none is older than its source, and ``ORCHSIM_PURE_PYTHON`` does not
    rule them out. The modules call each other's native classes, so it is all of them or none."""
    if pure_requested() or stale():
        return False
    return all(_extension(module) is not None for module in MODULES)


def engine_label() -> str:
    """How this process runs the engine, for ``orchsim --version``."""
    if compiled_engine():
        return "compiled by mypyc"
    changed = stale()
    if changed and not pure_requested():
        return f"pure Python: {changed[0]} changed since it was compiled (pip install -e . compiles it again)"
    return "pure Python"


class _Sources:
    """A meta path finder that loads ``MODULES`` from their ``.py`` files, never their compiled extensions."""

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec | None:
        if name not in MODULES or not path:
            return None
        for entry in path:
            source = Path(entry) / f"{name.rpartition('.')[2]}.py"
            if source.is_file():
                return importlib.util.spec_from_file_location(name, source)
        return None


def use_sources() -> None:
    """Load the pure-Python sources of ``MODULES`` from now on (call before any of them is imported)."""
    if not any(isinstance(finder, _Sources) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Sources())
