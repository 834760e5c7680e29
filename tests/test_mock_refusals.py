"""The mock service refuses, before any process starts, every scenario field it does not play:
``orchsim serve`` and ``orchsim validate --router builtin`` exit 2 with one line per field (the
support list is ``loadtest.balancers.mapping.UNPLAYED``, the one the real balancers' refusals read)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loadtest.balancers.mapping import MOCK, refusals
from sim.cli.main import main
from sim.scenario.loading import load_scenario
from sim.scenario.paths import scenarios_dir

STEADY = scenarios_dir() / "validate-steady.yaml"
SIMULATOR_ONLY = " (the simulator's only: validate would compare a model that has it with a mock that has not)"
NO_CENTRAL_QUEUE = "the mock router keeps no central queue (central_queue, first: it sends to the least busy server)"
LLM = ["clusters.0.service.kind=llm", "clusters.0.service.profile=h100-8b"]

# (overrides on validate-steady, the one line the mock answers with)
REFUSED: dict[str, tuple[list[str], str]] = {
    "autoscale": (
        ["clusters.0.autoscale.max_servers=12"],
        "clusters.0.autoscale: the mock service has no autoscaler" + SIMULATOR_ONLY,
    ),
    "cluster_central_queue": (["clusters.0.strategy=central_queue"], f"clusters.0.strategy: {NO_CENTRAL_QUEUE}"),
    "router_first": (["router.strategy=first"], f"router.strategy: {NO_CENTRAL_QUEUE}"),
    "report_interval": (
        ["router.report_interval=5s"],
        "router.report_interval: the mock router sees its own live counts, no stale load reports" + SIMULATOR_ONLY,
    ),
    "overhead": (
        ["router.overhead=5ms"],
        "router.overhead: the mock router adds its own delay, not a configured one" + SIMULATOR_ONLY,
    ),
    "adaptive_concurrency": (
        ["router.adaptive_concurrency.interval=5s"],
        "router.adaptive_concurrency: the mock router has no adaptive concurrency limit" + SIMULATOR_ONLY,
    ),
    "cross_region_latency": (
        ["router.cross_region_latency=50ms"],
        "router.cross_region_latency: the mock router adds no delay to a request served outside its region"
        + SIMULATOR_ONLY,
    ),
    "kv_cache_tokens": (
        [*LLM, "clusters.0.service.kv_cache_tokens=40000"],
        "clusters.0.service.kv_cache_tokens: the mock's LLM servers keep no KV cache (a batch of at most slots)"
        + SIMULATOR_ONLY,
    ),
    "preemption": (
        [*LLM, "clusters.0.service.preemption=recompute"],
        "clusters.0.service.preemption: the mock's LLM servers never preempt (they keep no KV cache)" + SIMULATOR_ONLY,
    ),
    "prefix_cache": (
        [*LLM, "clusters.0.service.prefix_cache.sessions=100"],
        "clusters.0.service.prefix_cache: the mock's LLM servers keep no prefix cache" + SIMULATOR_ONLY,
    ),
    "scheduling": (
        [*LLM, "clusters.0.service.scheduling=priority"],
        "clusters.0.service.scheduling: the mock's LLM servers admit first come, first served" + SIMULATOR_ONLY,
    ),
    "step_s": (
        [*LLM, "clusters.0.service.step_s=0.01"],
        "clusters.0.service.step_s: the mock's LLM servers have no step-level scheduler" + SIMULATOR_ONLY,
    ),
}


@pytest.fixture
def no_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting the mock, or a validation, fails the test: a refusal comes before any process."""

    def started(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a process started")

    monkeypatch.setattr("loadtest.mock.topology.Topology.start", started)
    monkeypatch.setattr("loadtest.validate.validate", started)


def _sets(overrides: list[str]) -> list[str]:
    return [part for override in overrides for part in ("--set", override)]


@pytest.mark.parametrize("field", sorted(REFUSED))
def test_serve_and_validate_refuse_a_field_the_mock_does_not_play(
    field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_process: None
) -> None:
    overrides, line = REFUSED[field]
    assert refusals(load_scenario(STEADY, overrides), MOCK) == [line]
    assert main(["serve", str(STEADY), *_sets(overrides)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"validate-steady.yaml: {line}"]
    out = tmp_path / "out"
    assert main(["validate", str(STEADY), "--out", str(out), *_sets(overrides)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"validate-steady.yaml: {line}"]
    assert not out.exists()


def test_every_field_is_named_once_each_cluster_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_process: None
) -> None:
    path = scenarios_dir() / "reasoning-pools.yaml"
    overrides = ["clusters.1.autoscale.max_servers=40", "router.overhead=5ms", "router.report_interval=5s"]
    code = main(["validate", str(path), "--router", "builtin", "--out", str(tmp_path / "o"), *_sets(overrides)])
    assert code == 2
    assert [line.split(": ")[1] for line in capsys.readouterr().err.splitlines()] == [
        "clusters.1.autoscale",
        "router.report_interval",
        "router.overhead",
    ]


def test_a_target_has_no_mock_to_refuse_for(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--target measures a user's service: what the mock does not play is no reason to refuse (the
    bad URL is what stops this one, after the refusal hook)."""
    code = main(["validate", str(STEADY), "--set", "router.overhead=5ms", "--target", "ftp://x", "--out", "-"])
    assert code == 2
    err = capsys.readouterr().err
    assert "router.overhead" not in err and "--target" in err


@pytest.mark.parametrize(
    "name", ["validate-steady", "validate-surge", "validate-crash", "validate-strategies", "validate-workers"]
)
def test_the_shipped_validation_scenarios_are_all_played_by_the_mock(name: str) -> None:
    assert refusals(load_scenario(scenarios_dir() / f"{name}.yaml"), MOCK) == []


def test_a_partition_fault_is_refused_naming_the_fault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_process: None
) -> None:
    """The mock's partitioned servers hold a request until the partition ends; the simulator's router
    fails the connect after router.connect_timeout: not the same fault (its kind's mock_problem says)."""
    path = tmp_path / "cut.yaml"
    text = STEADY.read_text() + "faults:\n  - {kind: partition, target: pool, at: 1m, duration: 30s}\n"
    path.write_text(text)
    assert main(["serve", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "cut.yaml: faults.0.kind: partition: the mock's servers hold a request until the partition ends; the "
        "simulator's router gives up after router.connect_timeout (503)"
    ]


def test_serve_without_a_scenario_serves_one_the_mock_plays(
    capsys: pytest.CaptureFixture[str], no_process: None
) -> None:
    """The default is validate-steady (the flagship's autoscaler and KV cache would be refused): it gets
    as far as starting the processes (which this test forbids)."""
    assert main(["serve"]) == 1
    assert "a process started" in capsys.readouterr().err


def test_what_the_mock_plays_is_not_refused() -> None:
    """CoDel: the mock servers drive the simulator's object (tests/test_mock_parity.py)."""
    assert refusals(load_scenario(STEADY, ["clusters.0.codel.target=10ms"]), MOCK) == []


def test_validate_maxconn_is_the_balancers_the_mock_keeps_no_central_queue() -> None:
    lines = refusals(load_scenario(scenarios_dir() / "validate-maxconn.yaml"), MOCK)
    assert lines == [f"router.strategy: {NO_CENTRAL_QUEUE}"]


@pytest.mark.parametrize("balancer", ["haproxy", "nginx"])
def test_behind_a_balancer_the_mock_backends_still_refuse_what_they_do_not_play(
    balancer: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_process: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backends behind HAProxy or nginx are the mock's servers: an LLM field they do not play is
    refused for serve and validate as for the builtin router; export writes the balancer alone."""
    monkeypatch.setattr("loadtest.balancers.routers.find_binary", lambda name: Path(f"/usr/sbin/{name}"))
    overrides, line = REFUSED["kv_cache_tokens"]
    out = tmp_path / "out"
    args = ["validate", str(STEADY), "--router", balancer, "--out", str(out), *_sets(overrides)]
    assert main(args) == 2
    assert capsys.readouterr().err.splitlines() == [f"validate-steady.yaml: {line} (behind {balancer})"]
    assert not out.exists()
    assert main(["serve", str(STEADY), "--router", balancer, *_sets(overrides)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"validate-steady.yaml: {line} (behind {balancer})"]
    assert refusals(load_scenario(STEADY, overrides), balancer) == []  # export is not refused
