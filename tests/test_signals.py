"""SIGTERM is handled like Ctrl-C: nothing half-written is left, one line says so, exit 143 (130)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

GOOD = "name: ok\nduration: 200\ndrain: 0\nwindow: 50\nworkload: {rate: 1}\nclusters: [{name: c, servers: 1}]\n"


@pytest.mark.parametrize("sig", [signal.SIGTERM])  # SIGINT takes the same path (test_validate, test_sweep)
def test_a_signal_mid_write_leaves_no_temp_files_and_says_so(tmp_path: Path, sig: signal.Signals) -> None:
    (tmp_path / "s.yaml").write_text(GOOD)
    gate = tmp_path / "hold"  # the run waits there between two of its files: the signal lands mid-write
    env = {**os.environ, "ORCHSIM_TEST_HOLD": str(gate)}
    command = [sys.executable, "-m", "sim", "run", "s.yaml", "--out", "out", "--no-plots"]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not gate.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert gate.exists(), process.communicate(timeout=10)
        process.send_signal(sig)
        _, err = process.communicate(timeout=60)
    finally:
        gate.unlink(missing_ok=True)
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + sig
    name = "SIGTERM" if sig == signal.SIGTERM else "Ctrl-C"
    assert err.splitlines() == [f"orchsim: stopped by {name}; files already written are complete, partial ones removed"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]  # no out/, no hidden temp folder or file
