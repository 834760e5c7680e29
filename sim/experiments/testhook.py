"""A pause point for tests that interrupt a long command: with ``ORCHSIM_TEST_HOLD=FILE`` set, the
command writes FILE when it reaches the point and waits there while FILE exists. A test can then
send its signal knowing the command has started the work and cannot have finished it. Unset (as
always outside tests), it costs one environment lookup."""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["HOLD_ENV", "hold"]

HOLD_ENV = "ORCHSIM_TEST_HOLD"


def hold(point: str) -> None:
    """Announce ``point`` in $ORCHSIM_TEST_HOLD's file and wait until the test removes it."""
    name = os.environ.get(HOLD_ENV)
    if not name:
        return
    path = Path(name)
    path.write_text(point)
    while path.exists():
        time.sleep(0.02)
