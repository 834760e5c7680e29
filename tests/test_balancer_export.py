"""orchsim export: every shipped scenario gives a config the balancer's own check accepts, or exit 2 naming a field."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from loadtest.balancers.binary import check_config
from loadtest.balancers.export import scenario_config
from loadtest.balancers.mapping import refusals
from sim.cli.main import main
from sim.scenario.loading import ScenarioError, load_scenario
from sim.scenario.paths import scenarios_dir
from tests.balancer_helpers import binary_or_skip

SHIPPED = sorted(scenarios_dir().glob("*.yaml"))
FIELD_LINE = r"^[\w.-]+\.yaml: (clusters|router|faults|clients)[\w.]*: "


@pytest.mark.parametrize("implementation", ["haproxy", "nginx"])
@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_exports_a_config_the_binary_accepts_or_names_a_field(
    path: Path, implementation: str, capsys: pytest.CaptureFixture[str]
) -> None:
    binary_or_skip(implementation)
    code = main(["export", str(path), "--router", implementation])
    out, err = capsys.readouterr()
    if code == 2:
        lines = err.strip().splitlines()
        assert lines and out == ""
        assert lines == [f"{path.name}: {line}" for line in refusals(load_scenario(path), implementation)]
        return
    assert code == 0, err
    passed, report = check_config(implementation, out)
    assert passed, f"{implementation} rejects the exported config of {path.name}:\n{report}\n{out}"


def test_the_four_validation_scenarios_and_power_of_two_export_to_both() -> None:
    names = ["validate-steady", "validate-surge", "validate-crash", "validate-strategies", "power-of-two-choices"]
    for name in names:
        for implementation in ("haproxy", "nginx"):
            assert refusals(load_scenario(scenarios_dir() / f"{name}.yaml"), implementation) == [], name


@pytest.mark.parametrize(
    ("strategy", "haproxy", "nginx"),
    [
        ("power_of_two", "balance random(2)", "random two least_conn;"),
        ("random", "balance random(1)", "random;"),
        ("least_connections", "balance leastconn", "least_conn;"),
    ],
)
def test_strategies_map_to_the_balancers_own_words(strategy: str, haproxy: str, nginx: str) -> None:
    path = scenarios_dir() / "validate-steady.yaml"
    assert haproxy in scenario_config(path, [f"router.strategy={strategy}"], "haproxy")
    lines = scenario_config(path, [f"router.strategy={strategy}"], "nginx").splitlines()
    assert sum(line.strip() == nginx for line in lines) == 1


def test_a_strategy_without_equivalent_is_refused_naming_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    path = scenarios_dir() / "validate-steady.yaml"
    code = main(["export", str(path), "--router", "nginx", "--set", "router.strategy=least_outstanding_tokens"])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "validate-steady.yaml: router.strategy: least_outstanding_tokens has no nginx equivalent"
    )
    with pytest.raises(ScenarioError, match=r"router\.queue_limit: HAProxy has no limit"):
        scenario_config(path, ["router.strategy=central_queue", "router.queue_limit=5"], "haproxy")


def test_queueing_strategies_set_maxconn_and_a_queue_timeout() -> None:
    path = scenarios_dir() / "validate-steady.yaml"
    text = scenario_config(path, ["router.strategy=first"], "haproxy")
    assert "    balance first" in text and "default-server maxconn 2" in text and "timeout queue 20000ms" in text
    # the time waited in HAProxy's queue goes back to the load generator, which counts it as wait
    assert "    http-response set-header X-Orchsim-Balancer-Wait-Ms %Tw\n" in text
    plain = scenario_config(path, [], "haproxy")
    assert "maxconn" not in plain.replace("# a request waiting for a free server slot (maxconn)", "")
    assert "Balancer-Wait" not in plain


def test_retries_and_health_checks_are_mapped() -> None:
    path = scenarios_dir() / "validate-crash.yaml"
    overrides = ["router.retries.max=2", "router.retries.on=[500,503]"]
    haproxy = scenario_config(path, overrides, "haproxy")
    for line in (
        "retries 2",
        "option redispatch 1",
        "retry-on conn-failure empty-response 500 503",
        "option httpchk GET /health",
        "default-server check inter 2000ms fall 2 rise 2",
    ):
        assert f"    {line}\n" in haproxy
    nginx = scenario_config(path, overrides, "nginx")
    assert "proxy_next_upstream error http_500 http_503 non_idempotent;" in nginx
    assert "proxy_next_upstream_tries 3;" in nginx and "max_fails=2 fail_timeout=4s;" in nginx


def test_out_writes_the_file_whole_with_mode_0644(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "lb" / "haproxy.cfg"
    path = scenarios_dir() / "validate-surge.yaml"
    assert main(["export", str(path), "--router", "haproxy", "--out", str(target)]) == 0
    assert target.read_text() == scenario_config(path, [], "haproxy")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in target.parent.iterdir()) == ["haproxy.cfg"]  # no temp file left
    assert main(["export", str(path), "--router", "haproxy", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_nginx_listens_with_a_socket_per_worker_only_when_it_runs_several() -> None:
    path = scenarios_dir() / "validate-workers.yaml"  # router.instances: 2
    lines = [line.strip() for line in scenario_config(path, [], "nginx").splitlines()]
    assert "worker_processes 2;" in lines
    assert [line for line in lines if line.startswith("listen ")] == ["listen 127.0.0.1:8800 reuseport;"]
    single = [line.strip() for line in scenario_config(path, ["router.instances=1"], "nginx").splitlines()]
    assert "worker_processes 1;" in single
    assert [line for line in single if line.startswith("listen ")] == ["listen 127.0.0.1:8800;"]
