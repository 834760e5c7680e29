"""Where shipped scenarios live (the repository, or the installed data folder)."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = [
    "FLAGSHIP",
    "SCENARIO_SUFFIXES",
    "flagship_scenario",
    "resolve_scenario",
    "scenarios_dir",
    "shipped_scenarios",
]

SCENARIO_SUFFIXES = (".yaml", ".yml", ".toml")

FLAGSHIP = "chatgpt-2026-02-04.yaml"


def scenarios_dir() -> Path:
    """The folder of shipped scenarios."""
    in_repo = Path(__file__).resolve().parents[2] / "scenarios"
    if in_repo.is_dir():
        return in_repo
    return Path(sys.prefix) / "share" / "orchsim" / "scenarios"


def flagship_scenario() -> Path:
    """The scenario ``orchsim run`` uses when none is given."""
    return scenarios_dir() / FLAGSHIP


def shipped_scenarios() -> dict[str, Path]:
    """Every shipped scenario by name (its file name without the suffix)."""
    folder = scenarios_dir()
    files = sorted(p for p in folder.glob("*") if p.suffix in SCENARIO_SUFFIXES) if folder.is_dir() else []
    return {p.stem: p for p in files}


def resolve_scenario(text: str | Path) -> Path:
    """The file ``text`` names: an existing path or one with folders, else a shipped scenario's name
    (``peak-hour-surge`` or ``peak-hour-surge.yaml``).

    Raises ``ScenarioError`` listing the shipped scenarios when a bare name is neither.
    """
    path = Path(text)
    if path.exists() or path.parent != Path(".") or str(text) == "-":  # "-" (stdin): the loader refuses it
        return path  # a path with folders is a file or an error reading it
    shipped = shipped_scenarios()
    name = path.stem if path.suffix in SCENARIO_SUFFIXES else path.name
    if name in shipped:
        return shipped[name]
    from sim.scenario.loading import ScenarioError  # deferred: loading imports the scenario model

    raise ScenarioError(
        [f"{text}: no such scenario file, and no shipped scenario of that name (shipped: {', '.join(shipped)})"]
    )
