"""Named random streams are declared once (sim.rng.Stream): no module of sim/ or loadtest/ names one
with a string of its own, and the names stay the keys every earlier run drew from."""

from __future__ import annotations

import ast
import zlib
from pathlib import Path

from sim.rng import Stream, stream

ROOT = Path(__file__).resolve().parent.parent


def _literal_stream_names(path: Path) -> list[str]:
    """``stream(seed, "literal", ...)`` calls in one module, as FILE:LINE."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or len(node.args) < 2:
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if name == "stream" and isinstance(node.args[1], ast.Constant):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_stream_names_are_declared_once() -> None:
    modules = sorted([*(ROOT / "sim").rglob("*.py"), *(ROOT / "loadtest").rglob("*.py")])
    assert len(modules) > 50
    assert [hit for path in modules for hit in _literal_stream_names(path)] == []


def test_a_member_draws_what_its_name_drew() -> None:
    """A member is its old string: the same crc32 key, so the same draws (common random numbers)."""
    assert Stream.FAULT_TARGETS.value == "fault-targets" and zlib.crc32(Stream.ARRIVALS.encode()) == zlib.crc32(
        b"arrivals"
    )
    assert stream(7, Stream.SERVICE, 1, 2).random(3).tolist() == stream(7, "service", 1, 2).random(3).tolist()
    assert len({member.value for member in Stream}) == len(Stream)
