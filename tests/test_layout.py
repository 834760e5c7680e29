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
SHARED_AT_ROOT = {"__init__.py", "__main__.py", "api.py", "clock.py", "compiled.py", "rng.py"}
# sim's packages (and root modules) in layers, bottom first: a module imports from its own layer or below
# (ARCHITECTURE.md). Names in one layer may import each other.
LAYERS = (
    {"inputs", "rng", "clock", "compiled"},
    {"strategies"},
    {"implementations"},
    {"control"},  # decisions of the routing layer; scenario models only for types
    {"scenario", "faults"},  # the scenario checks fault kinds against the table; a kind reads scenario models
    {"workload"},
    {"engine"},
    {"analysis"},
    {"experiments", "output"},  # a run writes its folder; a table reads a comparison
    {"cli", "api", "__main__"},
)
# the engine's modules in layers, bottom first, along the path of a request (ARCHITECTURE.md): a module
# imports only from a layer below its own, for types too (no cycle, even under TYPE_CHECKING). What a
# server, a health checker or an autoscaler needs from its cluster is a Protocol of server.py.
ENGINE_LAYERS = (
    {"heap"},
    {"kernel", "attempt", "intervals"},
    {"records"},
    {"server"},
    {"llm_server"},
    {"step_server"},
    {"health", "autoscale"},
    {"cluster"},
    {"router"},
    {"client", "faults"},
    {"model"},
    {"__init__"},
)


def _imported_modules(path: Path, typing_only: bool = True) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, at any depth (deferred ones included; those under
    ``if TYPE_CHECKING:`` only when ``typing_only``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped: set[int] = set()
    if not typing_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped |= {id(inner) for statement in node.body for inner in ast.walk(statement)}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
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


def _layer(path: Path) -> int:
    parts = path.relative_to(ROOT / "sim").parts
    name = parts[0] if len(parts) > 1 else path.stem
    ranks = [rank for rank, layer in enumerate(LAYERS) if name in layer]
    assert ranks, f"sim/{name}: put it in a layer of LAYERS (tests/test_layout.py) and ARCHITECTURE.md's map"
    return ranks[0]


def test_sims_packages_import_only_their_layer_or_below() -> None:
    wrong = []
    for path in sorted((ROOT / "sim").rglob("*.py")):
        if path.name == "__init__.py" and path.parent == ROOT / "sim":
            continue
        rank = _layer(path)
        for line, module in _imported_modules(path, typing_only=False):
            parts = module.split(".")
            if parts[0] != "sim" or len(parts) == 1:
                continue
            target = ROOT / "sim" / parts[1]
            if _layer(target if target.is_dir() else target.with_suffix(".py")) > rank:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: imports {module}, a layer above")
    assert wrong == [], "\n".join(wrong)


def test_the_check_sees_a_deferred_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from loadtest.validate import command\n    import loadtest\n"
        "    importlib.import_module('loadtest.verbs')\n"
    )
    assert [name for _, name in _imported_modules(module)] == ["loadtest.validate", "loadtest", "loadtest.verbs"]
    module.write_text("if TYPE_CHECKING:\n    from sim.engine import Simulation\nimport sim.cli\n")
    assert [name for _, name in _imported_modules(module, typing_only=False)] == ["sim.cli"]
    assert _layer(ROOT / "sim" / "strategies" / "base.py") < _layer(ROOT / "sim" / "cli" / "main.py")


def _engine_layer(name: str) -> int:
    ranks = [rank for rank, layer in enumerate(ENGINE_LAYERS) if name in layer]
    assert ranks, f"sim/engine/{name}.py: put it in a layer of ENGINE_LAYERS (tests/test_layout.py) and ARCHITECTURE.md"
    return ranks[0]


def _engine_imports_above(path: Path) -> list[str]:
    """Imports of engine modules (``TYPE_CHECKING`` ones included) from ``path``'s layer or above."""
    rank = _engine_layer(path.stem)
    wrong = []
    for line, module in _imported_modules(path, typing_only=True):
        if module != "sim.engine" and not module.startswith("sim.engine."):
            continue
        target = "__init__" if module == "sim.engine" else module.split(".")[2]
        if _engine_layer(target) >= rank:
            wrong.append(f"{path.relative_to(path.parents[2])}:{line}: imports {module}, not a layer below")
    return wrong


def test_the_engines_modules_import_only_layers_below() -> None:
    wrong = [found for path in sorted((ROOT / "sim" / "engine").glob("*.py")) for found in _engine_imports_above(path)]
    assert wrong == [], "\n".join(wrong)


def test_the_engine_check_sees_an_import_for_types(tmp_path: Path) -> None:
    server = tmp_path / "sim" / "engine" / "server.py"
    server.parent.mkdir(parents=True)
    server.write_text(
        "if TYPE_CHECKING:\n    from sim.engine.cluster import Cluster\nfrom sim.engine.kernel import Kernel\n"
    )
    assert _engine_imports_above(server) == ["sim/engine/server.py:2: imports sim.engine.cluster, not a layer below"]
    server.write_text("from sim.engine import Simulation\n")
    assert _engine_imports_above(server) == ["sim/engine/server.py:1: imports sim.engine, not a layer below"]


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
