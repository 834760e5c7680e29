"""The CLI of the real balancers: ``orchsim export``, and ``--router`` on serve and validate.

Kept apart from ``sim/cli/main.py``; ``sim`` never imports ``loadtest`` at module level, only when one of
these verbs runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["ROUTERS", "add_export", "add_serve_router", "add_validate_router", "dispatch", "router_list"]

ROUTERS = ("builtin", "haproxy", "nginx")


def add_export(verbs: Any, add_set: Any) -> None:
    """The ``export`` verb (``add_set`` adds ``--set`` as every verb has it)."""
    export = verbs.add_parser(
        "export",
        help="print the HAProxy or nginx config a scenario describes",
        description="Write the balancer configuration for the scenario's routing (commented; server addresses are "
        "placeholders). A routing field the balancer cannot express is refused (exit 2) naming the field.",
    )
    export.add_argument("scenario", metavar="SCENARIO")
    export.add_argument("--router", required=True, choices=ROUTERS[1:], help="haproxy or nginx")
    export.add_argument("--out", metavar="FILE", help="write here (atomically) instead of stdout")
    add_set(export)


def add_serve_router(serve: argparse.ArgumentParser) -> None:
    """``orchsim serve --router``."""
    serve.add_argument(
        "--router",
        choices=ROUTERS,
        default="builtin",
        help="orchsim's router (default) or a real HAProxy / nginx configured from the scenario",
    )


def add_validate_router(validate: argparse.ArgumentParser) -> None:
    """``orchsim validate --router A,B,...``."""
    validate.add_argument(
        "--router",
        type=router_list,
        default=["builtin"],
        metavar="NAME[,NAME...]",
        help="builtin (default), haproxy, nginx, or several, comma-separated: the same scenario and seed behind "
        "each, a column each (the balancer listens on --port)",
    )


def router_list(text: str) -> list[str]:
    """``haproxy,nginx,builtin`` -> the names, each known and named once."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in ROUTERS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"must be one or more of {', '.join(ROUTERS)}, comma-separated (got {text!r})")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"names an implementation twice (got {text!r})")
    return names


def dispatch(args: argparse.Namespace) -> int | None:
    """The exit code of a balancer verb, or None when ``args`` is not one (the builtin router)."""
    if args.verb == "export":
        from loadtest.balancers.export import export  # deferred: sim does not need loadtest to start

        return export(args.scenario, args.router, args.overrides, args.out)
    if args.verb == "serve" and args.router != "builtin":
        from loadtest.balancers.serve import serve_balanced  # deferred: only when a balancer is asked for
        from sim.scenario.paths import flagship_scenario

        if args.rate_limit:
            print(f"orchsim serve: --rate-limit is orchsim's router's; {args.router} has none here", file=sys.stderr)
            return 2
        path = Path(args.scenario) if args.scenario else flagship_scenario()
        return serve_balanced(path, args.router, args.time_scale, args.port, args.overrides, args.max_body)
    return None
