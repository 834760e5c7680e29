"""Verbs that other installed packages plug into ``orchsim``: the entry-point group ``orchsim.verbs``.

A package names each verb it brings in its ``pyproject.toml``::

    [project.entry-points."orchsim.verbs"]
    serve = "loadtest.verbs:SERVE"

where the object is a ``Verb``: ``add`` makes its sub-parser on ``orchsim``'s sub-parsers and returns
it, ``run`` does the work from the parsed arguments and returns the exit code. This is how
``loadtest`` brings ``serve``, ``validate`` and ``export`` while ``sim`` never imports ``loadtest``.
Every verb is loaded when the parser is built, so a verb's module imports its heavy dependencies
inside ``run``. The installed package's metadata lists the entry points: after adding one,
reinstall (``pip install -e .``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

__all__ = ["GROUP", "Verb", "add_plugged_verbs"]

GROUP = "orchsim.verbs"


@dataclass(frozen=True)
class Verb:
    """A verb another package plugs in."""

    add: Callable[[Any], argparse.ArgumentParser]  # orchsim's sub-parsers -> the verb's parser
    run: Callable[[argparse.Namespace], int]  # parsed arguments -> exit code


def add_plugged_verbs(verbs: Any) -> None:
    """Add every installed ``orchsim.verbs`` entry point's sub-parser, in the order of their names;
    the parsed arguments then carry the verb's ``run`` as ``plugged``."""
    seen: set[str] = set()
    for point in sorted(entry_points(group=GROUP), key=lambda point: point.name):
        if point.name in seen:  # one distribution found twice on the path
            continue
        seen.add(point.name)
        verb = point.load()
        if not isinstance(verb, Verb):
            raise TypeError(f"entry point {GROUP}:{point.name} = {point.value} is not a sim.cli.verbs.Verb")
        verb.add(verbs).set_defaults(plugged=verb.run)
