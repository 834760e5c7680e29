"""Scenario loading: typed, frozen, unknown keys refused, one exact line per problem."""

from __future__ import annotations

import json
from pathlib import Path

import pydantic
import pytest
import yaml

from sim.scenario import json_schema
from sim.scenario.loading import ScenarioError, apply_overrides, load_scenario, parse_scenario
from sim.scenario.paths import scenarios_dir
from tests.conftest import BASE, make_scenario


def errors_of(tmp_path: Path, text: str, name: str = "bad.yaml", overrides: list[str] | None = None) -> list[str]:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides)
    return info.value.lines


def test_every_shipped_scenario_is_valid() -> None:
    files = sorted(scenarios_dir().glob("*.yaml"))
    assert len(files) >= 3
    for path in files:
        scenario = load_scenario(path)
        assert scenario.name == path.stem, f"{path.name}: name should match the file"


def test_scenario_is_frozen() -> None:
    scenario = make_scenario()
    with pytest.raises(pydantic.ValidationError):
        scenario.clusters[0].servers = 3  # type: ignore[misc]


def test_durations_accept_units() -> None:
    scenario = make_scenario(duration="2h", warmup="5m", clients={"timeout": "250ms"})
    assert (scenario.duration, scenario.warmup, scenario.clients.timeout) == (7200.0, 300.0, 0.25)


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    lines = errors_of(tmp_path, "name: x\nclusters: [\n  {name: a\n")
    assert len(lines) == 1
    assert lines[0].startswith("bad.yaml: line ")
    assert "YAML syntax error" in lines[0]


def test_negative_capacity_names_field_and_value(tmp_path: Path) -> None:
    data = {**BASE, "clusters": [{"name": "a", "servers": -3}]}
    lines = errors_of(tmp_path, yaml.safe_dump(data), "peak.yaml")
    assert lines == ["peak.yaml: clusters.0.servers: must be greater than 0 (got -3)"]


def test_each_problem_gets_its_own_line(tmp_path: Path) -> None:
    data = {**BASE, "clusters": [{"name": "a", "servers": 0, "slots": "many", "colour": "red"}]}
    lines = errors_of(tmp_path, yaml.safe_dump(data))
    assert "bad.yaml: clusters.0.servers: must be greater than 0 (got 0)" in lines
    assert any(line.startswith("bad.yaml: clusters.0.slots: must be a valid integer") for line in lines)
    assert "bad.yaml: clusters.0.colour: unknown field (got 'red')" in lines
    assert len(lines) == 3


def test_wrong_type_is_reported(tmp_path: Path) -> None:
    lines = errors_of(tmp_path, yaml.safe_dump({**BASE, "workload": {"rate": "lots"}}))
    assert lines == ["bad.yaml: workload.rate: must be a valid number, unable to parse string as a number (got 'lots')"]


def test_profile_going_backwards_is_refused(tmp_path: Path) -> None:
    workload = {"rate": 1, "profile": [{"at": "10m", "rate": 5}, {"at": "5m", "rate": 3}]}
    lines = errors_of(tmp_path, yaml.safe_dump({**BASE, "workload": workload}))
    assert lines == ["bad.yaml: workload.profile: times must not go backwards (300s after 600s)"]


def test_empty_cluster_list_is_refused(tmp_path: Path) -> None:
    lines = errors_of(tmp_path, yaml.safe_dump({**BASE, "clusters": []}))
    assert lines == ["bad.yaml: clusters: must list at least 1 item after validation, not 0"]


def test_unknown_top_level_key_and_missing_field(tmp_path: Path) -> None:
    data = {k: v for k, v in BASE.items() if k != "workload"}
    lines = errors_of(tmp_path, yaml.safe_dump({**data, "colour": 1}))
    assert "bad.yaml: workload: is required" in lines
    assert "bad.yaml: colour: unknown field (got 1)" in lines


def test_fault_target_must_exist(tmp_path: Path) -> None:
    faults = [{"kind": "crash", "target": "nowhere", "at": 10, "duration": 5}]
    lines = errors_of(tmp_path, yaml.safe_dump({**BASE, "faults": faults}))
    assert lines == ["bad.yaml: faults.0.target: no cluster named 'nowhere' (known: c)"]


def test_fault_server_index_must_exist(tmp_path: Path) -> None:
    faults = [{"kind": "slowdown", "target": "c/4", "at": 10, "duration": 5, "factor": 3}]
    lines = errors_of(tmp_path, yaml.safe_dump({**BASE, "faults": faults}))
    assert lines == ["bad.yaml: faults.0.target: server index must be 0..0 (got '4')"]


def test_fault_window_and_fraction_checked(tmp_path: Path) -> None:
    faults = [{"kind": "crash", "target": "c", "at": 10, "until": 5, "fraction": 1.5}]
    lines = errors_of(tmp_path, yaml.safe_dump({**BASE, "faults": faults}))
    assert "bad.yaml: faults.0.fraction: must be less than or equal to 1 (got 1.5)" in lines


def test_fault_until_before_at(tmp_path: Path) -> None:
    faults = [{"kind": "crash", "target": "c", "at": 10, "until": 5}]
    lines = errors_of(tmp_path, yaml.safe_dump({**BASE, "faults": faults}))
    assert lines == ["bad.yaml: faults.0: until must be after at (got at 10s, until 5s)"]


def test_unknown_strategy_lists_known_ones(tmp_path: Path) -> None:
    lines = errors_of(tmp_path, yaml.safe_dump({**BASE, "router": {"strategy": "magic"}}))
    assert len(lines) == 1
    assert lines[0].startswith("bad.yaml: router.strategy: unknown strategy; known: central_queue, ")
    assert "power_of_two" in lines[0]


def test_negative_retry_delay_is_refused(tmp_path: Path) -> None:
    clients = {"retries": {"max": 2, "base": -1}}
    lines = errors_of(tmp_path, yaml.safe_dump({**BASE, "clients": clients}))
    assert lines == ["bad.yaml: clients.retries.base: must be greater than or equal to 0 (got -1)"]


def test_warmup_must_be_shorter_than_duration(tmp_path: Path) -> None:
    lines = errors_of(tmp_path, yaml.safe_dump({**BASE, "warmup": 2000}))
    assert lines == ["bad.yaml: warmup: must be shorter than duration (got 2000s >= 1000s)"]


def test_class_for_unserved_model_is_refused(tmp_path: Path) -> None:
    data = {
        **BASE,
        "clusters": [{"name": "c", "servers": 1, "models": ["gpt-new"]}],
        "workload": {"rate": 1, "classes": [{"name": "old", "model": "gpt-legacy"}]},
    }
    lines = errors_of(tmp_path, yaml.safe_dump(data))
    assert lines == ["bad.yaml: workload.classes.0.model: no cluster serves model 'gpt-legacy'"]


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    assert errors_of(tmp_path, "- 1\n- 2\n") == ["bad.yaml: top level must be a mapping of fields (got list)"]


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read file"):
        load_scenario(tmp_path / "nope.yaml")


def test_toml_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('name = "t"\nduration = "1h"\n[workload]\nrate = 5\n[[clusters]]\nname = "a"\nservers = 2\n')
    scenario = load_scenario(path)
    assert scenario.duration == 3600 and scenario.clusters[0].servers == 2


def test_bad_toml_names_file(tmp_path: Path) -> None:
    lines = errors_of(tmp_path, "name = \n", "s.toml")
    assert lines[0].startswith("s.toml: TOML syntax error")


def test_set_overrides_nested_fields_and_list_items() -> None:
    scenario = make_scenario(
        overrides=["clusters.0.servers=32", "router.strategy=power_of_two", "workload.rate=150", "clients.timeout=5s"]
    )
    assert scenario.clusters[0].servers == 32
    assert scenario.router.strategy == "power_of_two"
    assert scenario.workload.rate == 150
    assert scenario.clients.timeout == 5.0


def test_set_is_revalidated() -> None:
    with pytest.raises(ScenarioError) as info:
        make_scenario(overrides=["clusters.0.servers=-1"])
    assert info.value.lines == ["test.yaml: clusters.0.servers: must be greater than 0 (got -1)"]


def test_set_bad_path_names_the_override() -> None:
    with pytest.raises(ScenarioError) as info:
        make_scenario(overrides=["clusters.5.servers=3", "nonsense"])
    assert info.value.lines == [
        "test.yaml: --set clusters.5.servers=3: clusters.5: no such list index (list has 1 items)",
        "test.yaml: --set nonsense: expected PATH=VALUE (got 'nonsense')",
    ]


def test_codel_on_an_llm_server_is_refused_not_ignored() -> None:
    """The LLM server admits by KV cache and batch and never consults CoDel: refused at load time."""
    llm = {"name": "c", "servers": 1, "service": {"kind": "llm"}, "codel": {"target": "500ms"}}
    with pytest.raises(ScenarioError) as info:
        make_scenario(clusters=[llm])
    assert info.value.lines == [
        "test.yaml: clusters.0.codel: not modelled for service.kind llm (its scheduler admits by KV cache and batch)"
    ]
    plain = {**llm, "service": {"kind": "exponential", "mean": 1.0}}
    assert make_scenario(clusters=[plain]).clusters[0].codel is not None


def test_set_unknown_field_is_refused() -> None:
    with pytest.raises(ScenarioError) as info:
        make_scenario(overrides=["router.colour=red"])
    assert info.value.lines == ["test.yaml: router.colour: unknown field (got 'red')"]


def test_overrides_do_not_touch_the_original() -> None:
    raw = {"a": {"b": 1}}
    assert apply_overrides(raw, ["a.b=2"]) == {"a": {"b": 2}}
    assert raw == {"a": {"b": 1}}


def test_json_schema_describes_core_fields() -> None:
    schema = json_schema()
    json.dumps(schema)
    assert schema["title"] == "orchsim scenario"
    assert {"duration", "workload", "clusters", "router", "clients", "faults"} <= set(schema["properties"])
    assert "duration" in schema["required"] and "clusters" in schema["required"]


def test_contract_example_scenario_is_accepted() -> None:
    text = (Path(__file__).parent / "data" / "contract_example.yaml").read_text()
    scenario = parse_scenario(yaml.safe_load(text), "contract_example.yaml")
    assert scenario.faults[0].end_s == 40 * 60 + 30 * 60
    assert scenario.clients.retries.budget is not None and scenario.clients.retries.budget.ratio == 0.1


def test_problems_across_fields_are_all_reported(tmp_path: Path) -> None:
    data = {
        **BASE,
        "warmup": 5000,
        "clusters": [{"name": "c", "servers": 1, "params": {"d": 2}}, {"name": "c", "servers": 1}],
        "faults": [{"kind": "crash", "target": "nowhere", "at": 1, "duration": 1}],
    }
    assert errors_of(tmp_path, yaml.safe_dump(data)) == [
        "bad.yaml: warmup: must be shorter than duration (got 5000s >= 1000s)",
        "bad.yaml: clusters: names must be unique (repeated: c)",
        "bad.yaml: faults.0.target: no cluster named 'nowhere' (known: c, c)",
        "bad.yaml: clusters.0.params: only with clusters.0.strategy (the router's strategy takes router.params)",
    ]


def test_yaml_1_1_booleans_do_not_eat_keys(tmp_path: Path) -> None:
    path = tmp_path / "on.yaml"
    path.write_text(yaml.safe_dump(BASE) + "clients: {retries: {max: 1, on: [503]}}\nrouter: {strategy: random}\n")
    assert load_scenario(path).clients.retries.on == [503]


def test_set_changes_one_place_even_under_a_yaml_alias(tmp_path: Path) -> None:
    path = tmp_path / "alias.yaml"
    path.write_text(
        "duration: 100\nworkload: {rate: 1}\nclusters:\n"
        "  - {name: a, servers: 1, service: &svc {kind: exponential, mean: 1}}\n"
        "  - {name: b, servers: 1, service: *svc}\n"
    )
    scenario = load_scenario(path, ["clusters.0.service.mean=2"])
    assert [c.service.mean for c in scenario.clusters] == [2.0, 1.0]


def test_infinite_numbers_and_non_utf8_files_are_refused(tmp_path: Path) -> None:
    assert errors_of(tmp_path, yaml.safe_dump(BASE).replace("rate: 1.0", "rate: .inf")) == [
        "bad.yaml: workload.rate: must be a finite number (got inf)"
    ]
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ScenarioError, match=r"latin1\.yaml: not UTF-8 text"):
        load_scenario(path)
