"""The JSON Schema of scenario files: valid draft 2020-12, every shipped scenario passes, bad files fail."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from sim.cli.main import main
from sim.inputs.units import DURATION_PATTERN, parse_duration_s
from sim.inputs.yamlio import load_yaml
from sim.scenario import json_schema
from sim.scenario.paths import scenarios_dir
from tests.conftest import BASE

SHIPPED = sorted(scenarios_dir().glob("*.yaml"))
SCHEMA_FILE = scenarios_dir() / "orchsim.schema.json"
FIRST_LINE = "# yaml-language-server: $schema=orchsim.schema.json"
# keywords of JSON Schema draft 2020-12 (core, applicator, validation, format, meta-data, unevaluated)
KEYWORDS = {
    "$schema", "$id", "$ref", "$defs", "$comment", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary",
    "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas", "prefixItems", "items",
    "contains", "properties", "patternProperties", "additionalProperties", "propertyNames",
    "unevaluatedItems", "unevaluatedProperties", "type", "enum", "const", "multipleOf", "maximum",
    "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems",
    "minItems", "uniqueItems", "maxContains", "minContains", "maxProperties", "minProperties", "required",
    "dependentRequired", "format", "title", "description", "default", "deprecated", "readOnly", "writeOnly",
    "examples",
}  # fmt: skip


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def as_editor_reads(path: Path) -> Any:
    """The file as a YAML 1.2 editor passes it to the schema: timestamps are strings."""
    data = load_yaml(path.read_text(encoding="utf-8"))
    return json.loads(json.dumps(data, default=lambda v: v.isoformat() if isinstance(v, dt.datetime) else v))


def keywords(node: Any) -> set[str]:
    """Every keyword used in a schema (names under properties/$defs are not keywords)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            found.add(key)
            if key in ("default", "examples", "enum", "const"):
                continue  # values, not schemas
            children = value.values() if key in ("properties", "$defs", "patternProperties") else [value]
            for child in children:
                found |= keywords(child)
    elif isinstance(node, list):
        for child in node:
            found |= keywords(child)
    return found


def test_schema_is_draft_2020_12_with_standard_keywords_only() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    unknown = keywords(schema) - KEYWORDS
    assert not unknown, f"not JSON Schema keywords: {sorted(unknown)}"
    start = schema["properties"]["start"]
    assert (start["type"], start["format"]) == ("string", "date-time")


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_validates(path: Path, validator: jsonschema.Draft202012Validator) -> None:
    errors = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(as_editor_reads(path))
    ]
    assert not errors
    assert path.read_text(encoding="utf-8").splitlines()[0] == FIRST_LINE


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"duration": "5 minutes"}, ["duration"]),
        ({"warmup": -5}, ["warmup"]),
        ({"duration": 0}, ["duration"]),
        ({"clusters": []}, ["clusters"]),
        ({"clusters": [{"name": "c", "servers": -3}]}, ["clusters", 0, "servers"]),
        ({"wokload": {"rate": 1}}, []),
        ({"seed": -1}, ["seed"]),
        ({"slo": {"availability": 1.5}}, ["slo", "availability"]),
    ],
)
def test_bad_files_are_rejected(
    change: dict[str, Any], where: list[Any], validator: jsonschema.Draft202012Validator
) -> None:
    data = copy.deepcopy(BASE)
    data.update(change)
    errors = list(validator.iter_errors(data))
    assert errors, f"{change} passed the schema"
    assert any(list(e.absolute_path) == where for e in errors), [(list(e.absolute_path), e.message) for e in errors]


def test_the_base_file_passes(validator: jsonschema.Draft202012Validator) -> None:
    assert not list(validator.iter_errors(copy.deepcopy(BASE)))


@pytest.mark.parametrize("text", ["90", "250ms", "1h30m", " 5m ", "1.5s", "2d", "1e3ms", "10min", "500us"])
def test_duration_pattern_accepts_what_the_loader_accepts(text: str) -> None:
    assert re.match(DURATION_PATTERN, text)
    assert parse_duration_s(text) >= 0


@pytest.mark.parametrize("text", ["5 minutes", "-5m", "abc", "", "5x", "m5"])
def test_duration_pattern_refuses_what_the_loader_refuses(text: str) -> None:
    assert not re.match(DURATION_PATTERN, text)
    with pytest.raises(ValueError):
        parse_duration_s(text)


def test_shipped_schema_file_is_current() -> None:
    shipped = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert shipped == json_schema(), "regenerate: python -m sim check --write-schema scenarios/orchsim.schema.json"


def test_check_schema_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema()
