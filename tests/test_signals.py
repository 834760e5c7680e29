"""SIGTERM is handled like Ctrl-C: nothing half-written is left, one line says so, exit 143."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from tests.conftest import interrupt_on_hold


def test_sigterm_mid_write_leaves_no_temp_files_and_says_so(tiny: Path, tmp_path: Path) -> None:
    # the run holds between two of its files; SIGINT takes the same path (test_validate, test_sweep_capacity)
    command = [sys.executable, "-m", "sim", "run", tiny.name, "--out", "out", "--no-plots"]
    code, held, err = interrupt_on_hold(command, tmp_path / "hold", signal.SIGTERM, cwd=tmp_path, timeout_s=60)
    assert held == "run files being written" and code == 143, err
    told = [line for line in err.splitlines() if not line.startswith("simulating ")]  # progress lines off a TTY
    assert told == ["orchsim: stopped by SIGTERM; files already written are complete, partial ones removed"], err
    assert sorted(p.name for p in tmp_path.iterdir()) == [tiny.name]  # no out/, no hidden temp folder or file
