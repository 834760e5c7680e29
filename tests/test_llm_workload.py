"""LLM workloads: token distributions, trace replay, migrations, dedicated pools, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim.analysis.metrics import summarize
from sim.engine import simulate
from sim.rng import stream
from sim.scenario.loading import ScenarioError, load_scenario
from sim.scenario.tokens import TokenCount
from sim.workload.tokens import draw_tokens, mean_tokens
from sim.workload.trace import generate_trace
from tests.conftest import known, make_scenario, orchsim

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
LLM = {"kind": "llm", "profile": "h100-8b"}


def test_token_distributions_have_their_stated_means() -> None:
    rng = stream(0, "t")
    lognormal = TokenCount(kind="lognormal", mean=800, cv=1.0)
    pareto = TokenCount(kind="pareto", min=2000, alpha=2.5)
    for count in (lognormal, pareto):
        draws = draw_tokens(count, rng, 200_000)
        assert draws.min() >= 1
        assert draws.mean() == pytest.approx(mean_tokens(count), rel=0.03)
    capped = draw_tokens(TokenCount(kind="pareto", min=2000, alpha=1.1, max=32000), rng, 10_000)
    assert capped.max() == 32000 and capped.min() >= 2000


def test_empirical_histogram_is_drawn_in_proportion_to_its_weights(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("tokens,weight\n100,3\n1000,1\n")
    data: dict[str, Any] = {
        "name": "h",
        "duration": 1000,
        "workload": {"rate": 20, "output_tokens": {"kind": "empirical", "file": "h.csv"}},
        "clusters": [{"name": "c", "servers": 1, "service": LLM}],
    }
    path = tmp_path / "s.yaml"
    import yaml

    path.write_text(yaml.safe_dump(data))
    trace = generate_trace(load_scenario(path))
    assert trace.output_tokens is not None
    assert set(np.unique(trace.output_tokens).tolist()) == {100, 1000}
    assert float(np.mean(trace.output_tokens == 100)) == pytest.approx(0.75, abs=0.02)


def write_trace(tmp_path: Path, rows: str) -> Path:
    (tmp_path / "trace.csv").write_text("time_s,class,prompt_tokens,output_tokens,session\n" + rows)
    scenario = (
        "name: replay\nduration: 100\nworkload:\n  rate: 1\n  trace: {file: trace.csv, time_scale: 2}\n"
        "  classes: [{name: chat, model: small}]\n"
        "clusters:\n  - {name: a, servers: 1, models: [small, big], service: {kind: llm, itl: 10ms}}\n"
    )
    (tmp_path / "replay.yaml").write_text(scenario)
    return tmp_path / "replay.yaml"


def test_trace_replay_takes_times_classes_models_and_tokens_from_the_file(tmp_path: Path) -> None:
    path = write_trace(tmp_path, "10,chat,100,11,7\n4,big,50,21,8\n300,chat,5,5,9\n")
    trace = generate_trace(load_scenario(path))
    assert trace.arrival_s.tolist() == [2.0, 5.0]  # halved by time_scale; 150 s is past the duration
    assert [trace.class_names[k] for k in trace.klass] == ["big", "chat"]
    assert trace.class_models[trace.klass[0]] == "big"
    assert trace.prompt_tokens is not None
    assert trace.prompt_tokens.tolist() == [50, 100] and trace.session.tolist() == [8, 7]
    result = simulate(load_scenario(path))
    assert result.req_code.tolist() == [200, 200]
    # 21 tokens: no prefill cost, 20 more tokens at 10 ms
    assert result.req_end_s[0] - result.arrival_s[0] == pytest.approx(0.2)


def test_a_malformed_trace_row_is_reported_with_file_and_line(tmp_path: Path) -> None:
    path = write_trace(tmp_path, "10,chat,100,11,7\n11,chat,lots,11,7\n")
    done = orchsim("check", str(path))
    assert done.returncode == 2
    assert "replay.yaml: workload.trace.file: trace.csv line 3: prompt_tokens must be a whole number" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_trace_naming_an_unserved_model_is_refused(tmp_path: Path) -> None:
    path = write_trace(tmp_path, "10,huge,100,11,7\n")
    with pytest.raises(ScenarioError, match="'huge' is neither a request class nor a served model"):
        load_scenario(path)


@pytest.mark.parametrize(
    ("count", "message"),
    [
        ({"kind": "lognormal", "mean": -5}, "workload.prompt_tokens.mean: must be greater than 0"),
        ({"kind": "pareto", "min": 10, "alpha": 0}, "workload.prompt_tokens.alpha: must be greater than 0"),
        ({"kind": "pareto", "alpha": 1.5}, "a pareto token count needs min"),
        (0, "workload.prompt_tokens.value: must be greater than 0"),
    ],
)
def test_non_positive_token_parameters_are_refused(count: Any, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        make_scenario(workload={"rate": 1, "prompt_tokens": count})
    assert any(message in line for line in caught.value.lines), caught.value.lines


def test_a_class_for_a_model_nobody_serves_is_refused() -> None:
    with pytest.raises(ScenarioError, match=r"workload.classes.0.model: no cluster serves model 'gpt-9'"):
        make_scenario(
            workload={"rate": 1, "classes": [{"name": "x", "model": "gpt-9"}]},
            clusters=[{"name": "c", "servers": 1, "models": ["gpt-5"]}],
        )


def migration_scenario(new_servers: int = 4) -> Any:
    return make_scenario(
        duration=4000,
        drain=120,
        workload={
            "rate": 2,
            "classes": [{"name": "chat", "model": "legacy", "output_tokens": 500}],
            "migrations": [{"from_model": "legacy", "to_model": "new", "start": 1000, "end": 3000}],
        },
        clusters=[
            {"name": "old", "servers": 4, "slots": 8, "models": ["legacy"], "service": LLM},
            {"name": "fresh", "servers": new_servers, "slots": 8, "queue_limit": 4, "models": ["new"], "service": LLM},
        ],
    )


def test_a_migration_moves_traffic_to_the_new_pool_along_its_ramp() -> None:
    result = simulate(migration_scenario())
    a = result.attempts
    moved_share = []
    for lo, hi in ((0, 1000), (1900, 2100), (3000, 4000)):
        window = (a["sent_s"] >= lo) & (a["sent_s"] < hi)
        moved_share.append(float(np.mean(a["cluster"][window] == 1)))
    assert moved_share[0] == 0.0
    assert moved_share[1] == pytest.approx(0.5, abs=0.1)
    assert moved_share[2] == 1.0
    assert known(summarize(result).availability) > 0.99  # a pool of the same size copes


def test_a_migration_faster_than_the_new_pool_grows_overloads_it() -> None:
    result = simulate(migration_scenario(new_servers=1))
    late = result.arrival_s >= 3000
    early = result.arrival_s < 1000
    assert (result.req_code[early] == 200).all()
    assert float(np.mean(result.req_code[late] == 503)) > 0.3


def test_a_dedicated_pool_serves_only_its_classes() -> None:
    scenario = load_scenario(SCENARIOS / "reasoning-pools.yaml", ["duration=20m", "warmup=0"])
    result = simulate(scenario)
    a = result.attempts
    klass = result.klass[a["req"]]
    names = np.array(result.class_names)[klass]
    assert set(a["cluster"][names == "chat"].tolist()) == {0}
    assert set(a["cluster"][names == "reasoning"].tolist()) == {1}
