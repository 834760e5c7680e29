"""Hostile input files: each limit exceeded is exit 2 naming the file, fast and in bounded memory."""

from __future__ import annotations

import os
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

import sim.cli.commands  # noqa: F401  (imported before timing: the first import takes seconds)
from sim.cli.main import main
from sim.inputs.safe_input import MAX_DATA_FILE_BYTES, MAX_SCENARIO_BYTES

LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", "a", "b", "c", "d", "e", "f", "g", "h"], "abcdefghi", strict=True)
)
GOOD = "name: ok\nduration: 100\nworkload: {rate: 1}\nclusters: [{name: c, servers: 1}]\n"


def check(path: Path | str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, float, int]:
    """``orchsim check PATH`` in this process: exit code, stderr, CPU seconds (the work done: steady
    on a busy machine, where wall time is not), peak bytes allocated."""
    tracemalloc.start()
    started = time.process_time()
    try:
        code = main(["check", str(path)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return code, capsys.readouterr().err, time.process_time() - started, peak


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("laughs.yaml", LAUGHS, "aliases expand to more than"),
        ("deep.yaml", "a: " + "[" * 100_000, "nested deeper than 64 levels"),
        ("deep-map.yaml", "".join("  " * i + f"k{i}:\n" for i in range(200)), "nested deeper than 64 levels"),
        ("deep.toml", "a = " + "[" * 100_000, "nested deeper than 64 levels"),
        ("loop.yaml", "a: &a [*a]\n", "refers to a node that contains it"),
        ("big.yaml", "# " + "x" * MAX_SCENARIO_BYTES + "\n" + GOOD, "larger than the limit"),
    ],
)
def test_hostile_scenario_files_exit_2_fast_and_small(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    code, err, seconds, peak = check(path, capsys)
    assert code == 2 and name in err and message in err, err
    assert "Traceback" not in err
    assert seconds < 1.0 and peak < 50_000_000


def test_ordinary_aliases_still_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "fine.yaml"
    service = "{kind: lognormal, mean: 2, cv: 0.5}"
    clusters = f"clusters: [{{name: a, servers: 2, service: &s {service}}}, {{name: b, servers: 1, service: *s}}]\n"
    path.write_text(GOOD.split("clusters")[0] + clusters)
    code, err, _, _ = check(path, capsys)
    assert code == 0, err


@pytest.mark.parametrize("special", ["-", "/dev/stdin", "/dev/zero"])
def test_stdin_and_devices_are_refused(capsys: pytest.CaptureFixture[str], special: str) -> None:
    code, err, seconds, _ = check(special, capsys)
    assert code == 2 and special in err and "give a file" in err
    assert seconds < 1.0


def test_a_fifo_is_refused_without_blocking(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    done = threading.Event()

    def unblock() -> None:  # should check block on the FIFO, a writer after 10 s lets the test end (and fail)
        if not done.wait(10.0):
            with fifo.open("w"):
                pass

    watchdog = threading.Thread(target=unblock, daemon=True)
    watchdog.start()
    started = time.monotonic()
    code, err, _, _ = check(fifo, capsys)
    waited_s = time.monotonic() - started
    done.set()
    assert code == 2 and "pipe.yaml: not a regular file" in err and waited_s < 10.0


def test_trace_files_too_large_or_not_regular_name_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as handle:  # sparse: no disk space used
        handle.truncate(MAX_DATA_FILE_BYTES + 1)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(GOOD.replace("workload: {rate: 1}", "workload: {rate: 1, trace: {file: huge.csv}}"))
    code, err, seconds, _ = check(scenario, capsys)
    assert code == 2 and "workload.trace.file" in err and "huge.csv" in err and "larger than the limit" in err
    assert seconds < 1.0
    os.mkfifo(tmp_path / "fifo.csv")
    scenario.write_text(GOOD.replace("workload: {rate: 1}", "workload: {rate: 1, trace: {file: fifo.csv}}"))
    code, err, _, _ = check(scenario, capsys)
    assert code == 2 and "fifo.csv: not a regular file" in err
