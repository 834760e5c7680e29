"""What the balancer tests share: the binary, or a skip (a failure where CI requires the balancers)."""

from __future__ import annotations

import os
import shutil

import pytest

PACKAGES = {"haproxy": "haproxy", "nginx": "nginx-light"}


def binary_or_skip(name: str) -> str:
    """The path of ``name``'s binary; skipped where it is missing, failed when ORCHSIM_REQUIRE_BALANCERS=1."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (apt-get install -y {PACKAGES[name]}); .ci/run installs it"
        if os.environ.get("ORCHSIM_REQUIRE_BALANCERS") == "1":
            pytest.fail(f"ORCHSIM_REQUIRE_BALANCERS=1 but {message}")
        pytest.skip(message)
    return found
