"""The package layout holds: ``sim`` never imports ``loadtest``, and ``loadtest``'s verbs plug in."""

from __future__ import annotations

import argparse
import ast
import tomllib
from importlib import import_module
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from sim.cli import verbs as plug
from sim.cli.verbs import GROUP, Verb, add_plugged_verbs

ROOT = Path(__file__).resolve().parents[1]
SHARED_AT_ROOT = {"__init__.py", "__main__.py", "api.py", "clock.py", "rng.py"}


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, at any depth (deferred ones included)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def test_sim_never_imports_loadtest() -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line}: imports {module}"
        for path in sorted((ROOT / "sim").rglob("*.py"))
        for line, module in _imported_modules(path)
        if module == "loadtest" or module.startswith("loadtest.")
    ]
    assert wrong == [], "sim must not depend on loadtest (plug a verb in through sim/cli/verbs.py):\n" + "\n".join(
        wrong
    )


def test_the_check_sees_a_deferred_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from loadtest.validate import command\n    import loadtest\n"
        "    importlib.import_module('loadtest.verbs')\n"
    )
    assert [name for _, name in _imported_modules(module)] == ["loadtest.validate", "loadtest", "loadtest.verbs"]


def test_the_root_of_sim_holds_only_shared_modules() -> None:
    root = {path.name for path in (ROOT / "sim").glob("*.py")}
    assert root == SHARED_AT_ROOT, "a new module goes in the package of its role (ARCHITECTURE.md)"


def test_pyproject_plugs_loadtests_verbs_in() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][GROUP]
    assert set(declared) == {"serve", "validate", "export"}
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers(dest="verb")
    for name, value in declared.items():
        module, _, attribute = value.partition(":")
        verb = getattr(import_module(module), attribute)
        assert isinstance(verb, Verb)
        verb.add(subparsers).set_defaults(plugged=verb.run)
        assert name in subparsers.choices  # the entry point's name is the verb's
    args = parser.parse_args(["export", "validate-crash", "--router", "nginx"])
    assert args.plugged is import_module("loadtest.verbs").EXPORT.run


def _points(*pairs: tuple[str, str]) -> list[EntryPoint]:
    return [EntryPoint(name, value, GROUP) for name, value in pairs]


def test_plugged_verbs_are_added_once_in_name_order(monkeypatch: pytest.MonkeyPatch) -> None:
    points = _points(
        ("validate", "loadtest.verbs:VALIDATE"),
        ("export", "loadtest.verbs:EXPORT"),
        ("export", "loadtest.verbs:EXPORT"),  # one distribution seen twice on the path
    )
    monkeypatch.setattr(plug, "entry_points", lambda group: points if group == GROUP else [])
    subparsers = argparse.ArgumentParser().add_subparsers()
    add_plugged_verbs(subparsers)
    assert list(subparsers.choices) == ["export", "validate"]


def test_an_entry_point_that_is_not_a_verb_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    points = _points(("serve", "loadtest.verbs:ROUTERS"))
    monkeypatch.setattr(plug, "entry_points", lambda group: points)
    with pytest.raises(TypeError, match=r"orchsim.verbs:serve = loadtest.verbs:ROUTERS is not a"):
        add_plugged_verbs(argparse.ArgumentParser().add_subparsers())
