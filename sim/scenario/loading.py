"""Scenario files to validated ``Scenario`` objects, with ``--set`` overrides and exact error lines."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sim.inputs.messages import reword
from sim.inputs.safe_input import MAX_DEPTH, MAX_SCENARIO_BYTES, InputLimitError, check_nesting, read_limited
from sim.inputs.yamlio import load_yaml
from sim.scenario import Scenario

__all__ = ["ScenarioError", "apply_overrides", "load_baseline", "load_scenario", "parse_assignment", "parse_scenario"]

_PATH_PREFIX = re.compile(r"^([A-Za-z_][\w]*(?:\.[\w]+)*): (.*)$", re.DOTALL)


class ScenarioError(Exception):
    """An invalid scenario or override; ``lines`` holds one message per problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Read, override and validate the scenario file at ``path``."""
    path = Path(path)
    label = path.name
    try:
        text = read_limited(path, MAX_SCENARIO_BYTES).decode("utf-8")
    except InputLimitError as exc:
        raise ScenarioError([str(exc)]) from None
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read file ({exc.strerror or exc})"]) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError([f"{label}: not UTF-8 text (byte {exc.start})"]) from None
    raw = _parse_text(text, label, toml=path.suffix.lower() == ".toml")
    scenario = parse_scenario(raw, label, overrides, base_dir=path.parent)
    if scenario.baseline and not overrides:  # the baseline's overrides must give a valid scenario too
        try:
            parse_scenario(raw, label, [*(overrides or []), *scenario.baseline], base_dir=path.parent)
        except ScenarioError as exc:
            raise ScenarioError([f"{line} (in the baseline)" for line in exc.lines]) from None
    return scenario


def load_baseline(path: str | Path, overrides: list[str], scenario: Scenario) -> Scenario | None:
    """The baseline of the scenario at ``path`` (its ``baseline`` overrides applied), or None."""
    if not scenario.baseline:
        return None
    return load_scenario(path, [*overrides, *scenario.baseline, "baseline=[]"])


def parse_scenario(raw: Any, label: str, overrides: list[str] | None = None, base_dir: Path | None = None) -> Scenario:
    """Validate an already parsed mapping; ``label`` prefixes every error line.

    Data files the scenario names are read relative to ``base_dir`` (default: the working directory).
    """
    if not isinstance(raw, dict):
        raise ScenarioError([f"{label}: top level must be a mapping of fields (got {type(raw).__name__})"])
    try:
        check_nesting(raw, label)
    except InputLimitError as exc:
        raise ScenarioError([str(exc)]) from None
    data = apply_overrides(raw, overrides or [], label)
    try:
        return Scenario.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(exc, label)) from None


def _parse_text(text: str, label: str, *, toml: bool) -> Any:
    if toml:
        try:
            raw = tomllib.loads(text)
            check_nesting(raw, label)
            return raw
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError([f"{label}: TOML syntax error: {exc}"]) from None
        except RecursionError:
            raise ScenarioError([f"{label}: TOML nested deeper than {MAX_DEPTH} levels, the limit"]) from None
        except InputLimitError as exc:
            raise ScenarioError([str(exc)]) from None
    try:
        return load_yaml(text)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow: its place, on one line
        before = text[: exc.position]
        where = f"line {before.count(chr(10)) + 1} column {len(before) - before.rfind(chr(10))}"
        shown = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        raise ScenarioError([f"{label}: {where}: YAML syntax error: character {shown} is not allowed"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark is not None else "?"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError([f"{label}: {where}: YAML syntax error: {problem}"]) from None


def format_validation_error(exc: ValidationError, label: str) -> list[str]:
    """One ``FILE: field.path: message (got X)`` line per problem (a check across fields may report several)."""
    lines = []
    for err in exc.errors(include_url=False):
        base = ".".join(str(part) for part in err["loc"])
        shown = err.get("input")
        plain = not isinstance(shown, (dict, list)) and err["type"] != "missing"
        for message in reword(err["msg"]).split("\n"):
            path = base
            match = _PATH_PREFIX.match(message)
            if match and err["type"] == "value_error":
                path, message = ".".join(p for p in (base, match.group(1)) if p), match.group(2)
            got = f" (got {_show(shown)})" if plain and "(got " not in message else ""
            lines.append(f"{label}: {path or '(top level)'}: {message}{got}")
    return lines


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_assignment(text: str) -> tuple[list[str | int], Any]:
    """Split ``a.b.0.c=VALUE`` into a path and a YAML-parsed value."""
    key, sep, value_text = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"expected PATH=VALUE (got {text!r})")
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in key.strip().split(".")]
    if any(p == "" for p in parts):
        raise ValueError(f"empty field name in path (got {key!r})")
    try:
        value = load_yaml(value_text) if value_text.strip() else None
    except yaml.YAMLError:
        value = value_text
    return parts, value


def apply_overrides(raw: dict[str, Any], overrides: list[str], label: str = "--set") -> dict[str, Any]:
    """Copy of ``raw`` with every ``PATH=VALUE`` override applied (missing mapping keys are created)."""
    data: dict[str, Any] = _unshared(raw)
    problems = []
    for text in overrides:
        try:
            path, value = parse_assignment(text)
            _set_path(data, path, value)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            problems.append(f"{label}: --set {text}: {exc}")
    if problems:
        raise ScenarioError(problems)
    return data


def _unshared(node: Any) -> Any:
    """Deep copy in which YAML aliases become separate copies, so ``--set`` changes one place only."""
    if isinstance(node, dict):
        return {key: _unshared(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_unshared(value) for value in node]
    return node


def _set_path(node: Any, path: list[str | int], value: Any) -> None:
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        shown = ".".join(str(p) for p in path[: depth + 1])
        if isinstance(node, list):
            if not isinstance(part, int) or part >= len(node):
                raise IndexError(f"{shown}: no such list index (list has {len(node)} items)")
            if last:
                node[part] = value
                return
            node = node[part]
        elif isinstance(node, dict):
            key = str(part)
            if last:
                node[key] = value
                return
            if node.get(key) is None:
                node[key] = [] if isinstance(path[depth + 1], int) else {}
            node = node[key]
        else:
            raise TypeError(f"{shown}: cannot set a field inside a {type(node).__name__}")
