"""Which engine an install runs: sim.compiled's test of extensions older than their sources.

An editable install compiles the engine's modules next to their sources; a source edited after that
must not be shadowed by its stale extension (the whole engine then loads from the sources)."""

from __future__ import annotations

import importlib.machinery
import os
from pathlib import Path

from sim.compiled import MODULES, stale


def layout(root: Path, built_after_s: float) -> Path:
    """A package tree under ``root`` with every module's source at t=1000 s and its extension at
    1000 + ``built_after_s``; returns the first module's source."""
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for module in MODULES:
        source = root.joinpath(*module.split(".")).with_suffix(".py")
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text("")
        built = source.with_name(source.stem + suffix)
        built.write_bytes(b"")
        os.utime(source, (1000.0, 1000.0))
        os.utime(built, (1000.0 + built_after_s, 1000.0 + built_after_s))
    return root.joinpath(*MODULES[0].split(".")).with_suffix(".py")


def test_extensions_built_after_their_sources_are_in_use(tmp_path: Path) -> None:
    layout(tmp_path, built_after_s=5.0)
    assert stale(tmp_path) == []


def test_a_source_edited_after_the_build_is_named_stale(tmp_path: Path) -> None:
    first = layout(tmp_path, built_after_s=5.0)
    os.utime(first, (2000.0, 2000.0))
    assert stale(tmp_path) == [MODULES[0]]


def test_every_extension_older_is_stale_and_sources_alone_are_not(tmp_path: Path) -> None:
    layout(tmp_path, built_after_s=-5.0)  # every extension older: all stale
    assert stale(tmp_path) == list(MODULES)
    for built in tmp_path.rglob("*.so"):
        built.unlink()
    for built in tmp_path.rglob("*.pyd"):
        built.unlink()
    assert stale(tmp_path) == []
