"""Finding, checking and asking the version of a balancer binary."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["BalancerMissingError", "check_config", "find_binary", "foreground_command", "router_identity", "version"]

PACKAGES = {"haproxy": "haproxy", "nginx": "nginx-light"}
CHECK_TIMEOUT_S = 30.0


class BalancerMissingError(Exception):
    """The balancer's binary is not on PATH; the message names the package to install."""


def find_binary(implementation: str) -> str:
    """The path of ``implementation``'s binary, or BalancerMissingError naming the Debian package."""
    path = shutil.which(implementation)
    if path is None:
        raise BalancerMissingError(
            f"{implementation} not found on PATH (Debian/Ubuntu: apt-get install {PACKAGES[implementation]})"
        )
    return path


def version(implementation: str) -> str:
    """The version the binary reports (``haproxy -v``: "2.6.12-1+deb12u4"; ``nginx -v``: "1.22.1")."""
    binary = find_binary(implementation)
    done = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, check=False)
    text = done.stdout + done.stderr  # nginx -v writes to stderr
    pattern = r"HAProxy version (\S+)" if implementation == "haproxy" else r"nginx/(\S+)"
    found = re.search(pattern, text)
    return found.group(1) if found else text.strip().splitlines()[0] if text.strip() else "unknown"


def foreground_command(implementation: str, config: Path, prefix: Path) -> list[str]:
    """The command that runs the balancer in the foreground on ``config`` (nginx: files under ``prefix``)."""
    binary = find_binary(implementation)
    if implementation == "haproxy":
        return [binary, "-db", "-f", str(config)]
    return [binary, "-g", "daemon off;", "-p", f"{prefix}/", "-c", str(config), "-e", "stderr"]


def check_config(implementation: str, text: str) -> tuple[bool, str]:
    """(passed, output) of the binary's own check of config ``text`` (``haproxy -c``, ``nginx -t``)."""
    binary = find_binary(implementation)
    with tempfile.TemporaryDirectory(prefix=f"orchsim-{implementation}-") as folder:
        config = Path(folder) / f"{implementation}.conf"
        config.write_text(text)
        if implementation == "haproxy":
            command = [binary, "-c", "-f", str(config)]
        else:
            command = [binary, "-t", "-p", f"{folder}/", "-c", str(config), "-e", "stderr"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, check=False)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def router_identity(implementation: str) -> dict[str, str]:
    """What validation.json records as ``router``: the implementation and the version it reports."""
    from sim import __version__

    reported = __version__ if implementation == "builtin" else version(implementation)
    return {"implementation": implementation, "version": reported}
