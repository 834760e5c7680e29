"""Where shipped scenarios live (the repository, or the installed data folder)."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["FLAGSHIP", "flagship_scenario", "scenarios_dir"]

FLAGSHIP = "chatgpt-2026-02-04.yaml"


def scenarios_dir() -> Path:
    """The folder of shipped scenarios."""
    in_repo = Path(__file__).resolve().parents[1] / "scenarios"
    if in_repo.is_dir():
        return in_repo
    return Path(sys.prefix) / "share" / "orchsim" / "scenarios"


def flagship_scenario() -> Path:
    """The scenario ``orchsim run`` uses when none is given."""
    return scenarios_dir() / FLAGSHIP
