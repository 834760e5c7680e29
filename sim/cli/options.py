"""Options and help every ``orchsim`` verb shares: ``--json``, ``-q/--quiet``, ``--tz``, defaults, an example.

``add_shared_options`` runs over every sub-parser once they all exist, so a verb added later gets them
without a line of its own; a verb's example goes in ``EXAMPLES``.
"""

from __future__ import annotations

import argparse
from typing import Any

from sim.clock import parse_timezone

__all__ = [
    "EXAMPLES",
    "SCENARIO_HELP",
    "HelpFormatter",
    "add_safety_options",
    "add_set",
    "add_shared_options",
    "non_negative",
    "positive",
    "positive_float",
]

FORCE_VERBS = ("run", "compare", "sweep", "capacity", "phase", "serve", "validate")  # they run a scenario
OVERWRITE_VERBS = (
    "run",
    "compare",
    "sweep",
    "capacity",
    "phase",
    "validate",
    "calibrate",
)  # --out: sim.output.out_folder
ADMIN_VERBS = ("serve", "validate")  # they start the mock

EXAMPLES = {
    "run": "orchsim run peak-hour-surge --seed 2 --set workload.rate=150 --tz Europe/Paris\n"
    "orchsim run --json > summary.json          # the flagship scenario and its baseline, as JSON",
    "check": "orchsim check scenarios/*.yaml --json\norchsim check --schema > orchsim.schema.json",
    "strategies": "orchsim strategies --json",
    "compare": "orchsim compare power-of-two-choices --strategies random,power_of_two,least_connections --seeds 5",
    "sweep": "orchsim sweep mmc-textbook --grid clusters.0.servers=8,10,12 --seeds 3 --out runs/mmc",
    "capacity": "orchsim capacity mmc-textbook --param clusters.0.servers --target 'latency_s.p99<=2'",
    "phase": "orchsim phase peak-hour-surge --magnitudes 2,4 --durations 1m,5m --seeds 2",
    "serve": "orchsim serve validate-steady --time-scale 10 --port 8800",
    "validate": "orchsim validate validate-steady --time-scale 10 --out runs/validate",
    "report": "orchsim run peak-hour-surge --out runs/peak && orchsim report runs/peak --tz America/New_York",
    "calibrate": "orchsim calibrate measured.csv --predict points.csv --out runs/cal --json",
    "export": "orchsim export validate-crash --router haproxy --out haproxy.cfg",
}


SCENARIO_HELP = "scenario file, or the name of a shipped scenario such as peak-hour-surge"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help with each option's default (unless its text gives it already) and the epilog's line breaks kept."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        flag = action.nargs == 0  # --no-plots and the like: the flag is the setting
        if flag or "default" in text or default in (None, [], argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def add_shared_options(verbs: Any) -> None:
    """``--json``, ``-q/--quiet`` and ``--tz`` on every verb, help with defaults, and each verb's example."""
    for name, sub in verbs.choices.items():
        sub.formatter_class = HelpFormatter
        if name in EXAMPLES and not sub.epilog:
            sub.epilog = "example:\n" + "\n".join(f"  {line}" for line in EXAMPLES[name].splitlines())
        if "--json" in sub._option_string_actions:
            continue  # a verb that brought its own (it must then honour -q and --tz too)
        shared = sub.add_argument_group("output")
        shared.add_argument("--json", action="store_true", help="print one JSON document on stdout and nothing else")
        shared.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
        shared.add_argument(
            "--tz",
            type=_timezone,
            metavar="ZONE",
            help="time zone of printed clock times: IANA name (Europe/Paris), UTC, GMT or +02:00 "
            "(default: the scenario's timezone, else the zone of its start)",
        )


def add_safety_options(verbs: Any) -> None:
    """``--force`` (over the cost limits), ``--overwrite`` (a foreign ``--out``) and ``--admin-token``
    on the verbs they concern (README: Limits and safety)."""
    for name, sub in verbs.choices.items():
        if name in FORCE_VERBS:
            sub.add_argument(
                "--force",
                action="store_true",
                help="run even when the cost estimate (events, memory, time-series rows) is over orchsim's limits",
            )
        if name in OVERWRITE_VERBS:
            sub.add_argument(
                "--overwrite",
                action="store_true",
                help="replace a non-empty --out folder that is not an earlier output of this verb (refused otherwise)",
            )
        if name in ADMIN_VERBS:
            sub.add_argument(
                "--admin-token",
                metavar="TOKEN",
                help="admin endpoints (/admin/faults, /admin/clock) want 'Authorization: Bearer TOKEN' "
                "(default: $ORCHSIM_ADMIN_TOKEN; unset = no token, loopback and JSON checks only)",
            )


def _timezone(text: str) -> str:
    try:
        parse_timezone(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def positive_float(text: str) -> float:
    """An argument type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number (got {text!r})") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number (got {text})")
    return value


def add_set(sub: argparse.ArgumentParser) -> None:
    """``--set PATH=VALUE`` (repeatable): the overrides every verb that loads a scenario takes."""
    sub.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a scenario field, e.g. router.strategy=power_of_two or clusters.0.servers=32",
    )


def positive(text: str) -> int:
    """An argument type: a whole number >= 1."""
    value = non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be >= 1 (got 0)")
    return value


def non_negative(text: str) -> int:
    """An argument type: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (got {text!r})") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (got {value})")
    return value
