"""``orchsim serve``, ``validate`` and ``export``: the verbs ``loadtest`` plugs into orchsim's command line.

``pyproject.toml`` declares them in the entry-point group ``orchsim.verbs`` (see ``sim/cli/verbs.py``):
``sim`` never imports ``loadtest``. This module is imported whenever the parser is built, so it imports
aiohttp, locust and the balancers only inside the verb that needs them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sim.cli import ui
from sim.cli.options import SCENARIO_HELP, add_set, non_negative, positive, positive_float
from sim.cli.verbs import Verb
from sim.output.outputs import now_stamp
from sim.scenario.paths import scenarios_dir

__all__ = ["EXPORT", "ROUTERS", "SERVE", "VALIDATE", "router_list"]

ROUTERS = ("builtin", "haproxy", "nginx")


def _add_export(verbs: Any) -> argparse.ArgumentParser:
    """The ``export`` verb."""
    export: argparse.ArgumentParser = verbs.add_parser(
        "export",
        help="print the HAProxy or nginx config a scenario describes",
        description="Write the balancer configuration for the scenario's routing (commented; server addresses are "
        "placeholders). A routing field the balancer cannot express is refused (exit 2) naming the field.",
    )
    export.add_argument("scenario", metavar="SCENARIO")
    export.add_argument("--router", required=True, choices=ROUTERS[1:], help="haproxy or nginx")
    export.add_argument("--out", metavar="FILE", help="write here (atomically) instead of stdout")
    add_set(export)
    return export


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


def _add_serve(verbs: Any) -> argparse.ArgumentParser:
    serve: argparse.ArgumentParser = verbs.add_parser(
        "serve",
        help="run the mock service (router + GPU-like backends) on 127.0.0.1",
        description="Start a router and one backend process per cluster of the scenario on 127.0.0.1; "
        "Ctrl-C or SIGTERM stops them all.",
    )
    serve.add_argument(
        "scenario",
        nargs="?",
        metavar="SCENARIO",
        help=f"{SCENARIO_HELP} (default: validate-steady; the flagship's autoscaler and KV cache are the "
        "simulator's only, and a field the mock does not play is refused, exit 2)",
    )
    serve.add_argument(
        "--time-scale",
        type=positive_float,
        default=1.0,
        help="K: one simulated second takes 1/K real seconds (default 1)",
    )
    serve.add_argument("--port", type=positive, default=8800, help="router port; backends use the next ones")
    serve.add_argument("--max-body", type=positive, default=1_000_000, help="largest request body in bytes (413)")
    serve.add_argument(
        "--rate-limit",
        metavar="RPS[:BURST]",
        help="router rate limit in real requests/s (bursts of BURST, default RPS): beyond it, 429 with "
        "retry-after (default: none)",
    )
    add_serve_router(serve)
    add_set(serve)
    return serve


def _add_validate(verbs: Any) -> argparse.ArgumentParser:
    validate: argparse.ArgumentParser = verbs.add_parser(
        "validate",
        help="measure a scenario on the mock service with locust and compare with its simulation",
        description="Start the mock service, measure its HTTP overhead, drive it with locust (open-loop arrivals of "
        "the scenario's own trace), simulate the same scenario and seed, and print both side by side. "
        "Exit 0 when every row is within tolerance, 1 otherwise, 3 when the run is inconclusive (the measuring "
        "apparatus was too late to measure with: see --tolerance apparatus).",
    )
    validate.add_argument("scenario", nargs="?", metavar="SCENARIO", help=f"{SCENARIO_HELP} (default: validate-steady)")
    validate.add_argument(
        "--time-scale", type=positive_float, default=10.0, help="K: one simulated second takes 1/K s (default 10)"
    )
    validate.add_argument("--out", metavar="DIR", help="output folder (default: a new folder under runs/)")
    validate.add_argument(
        "--tolerance",
        action="append",
        default=[],
        metavar="KIND=VALUE",
        help="latency|throughput|retries (relative, default 0.1), availability|errors (absolute, default 0.02), "
        "floor (seconds of slack on latency rows, default 0.05), noise (standard deviations of sampling noise "
        "also allowed, default 2; 0 = none), apparatus (the measuring apparatus's lateness p99 allowed, as a "
        "fraction of the shortest mean service time or client timeout, default 1; beyond it the run is "
        "inconclusive, exit 3)",
    )
    validate.add_argument(
        "--noise-seeds", type=non_negative, default=10, help="extra simulations measuring sampling noise (default 10)"
    )
    validate.add_argument("--seed", type=non_negative, help="root seed (default: the scenario's seed)")
    validate.add_argument("--port", type=positive, default=8800, help="router port; backends use the next ones")
    validate.add_argument("--no-stream", dest="stream", action="store_false", help="ask for whole answers (no TTFT)")
    validate.add_argument("--max-tokens", type=positive, default=8, help="tokens per answer (default 8)")
    validate.add_argument("--ready-timeout", type=positive_float, default=30.0, help="seconds to wait for /ready")
    validate.add_argument("--locustfile", metavar="PATH", help="another open-loop locustfile (default: orchsim's)")
    validate.add_argument("--no-plots", dest="plots", action="store_false", help="skip the PNG plots")
    _add_target(validate)
    add_validate_router(validate)
    add_set(validate)
    return validate


def _add_target(validate: Any) -> None:
    target = validate.add_argument_group(
        "a real endpoint",
        "Measure your own OpenAI-compatible service instead of the mock (no faults played on either side). "
        "Secrets: ORCHSIM_AUTH_TOKEN=... sends 'Authorization: Bearer ...'; header values are never printed.",
    )
    target.add_argument(
        "--target", metavar="URL", help="e.g. https://llm.example.com/base/path (requests go to .../v1/...)"
    )
    target.add_argument(
        "--header", action="append", default=[], metavar="'NAME: VALUE'", help="sent with every request (repeatable)"
    )
    target.add_argument("--model", help="the model every request names (default: the scenario's class models)")
    target.add_argument("--ca-file", metavar="PATH", help="CA bundle that signs the target's certificate")
    target.add_argument("--insecure", action="store_true", help="https without checking the certificate")


def _serve(args: argparse.Namespace) -> int:
    """``orchsim serve``: the mock topology behind orchsim's router, or behind a real balancer."""
    path = Path(args.scenario) if args.scenario else scenarios_dir() / "validate-steady.yaml"
    if args.router == "builtin":
        from loadtest.mock.serve import serve  # deferred: aiohttp only when serving

        return serve(path, args.time_scale, args.port, args.overrides, args.max_body, args.rate_limit)
    from loadtest.balancers.serve import serve_balanced  # deferred: only when a balancer is asked for

    if args.rate_limit:
        print(f"orchsim serve: --rate-limit is orchsim's router's; {args.router} has none here", file=sys.stderr)
        return 2
    return serve_balanced(path, args.router, args.time_scale, args.port, args.overrides, args.max_body)


def _validate(args: argparse.Namespace) -> int:
    """``orchsim validate``: mock + locust + simulation of one scenario, side by side."""
    from loadtest.validate import command  # deferred: locust and aiohttp only when validating

    return command(args, ui.show, now_stamp)


def _export(args: argparse.Namespace) -> int:
    """``orchsim export``: the balancer config of a scenario."""
    from loadtest.balancers.export import export  # deferred: only when exporting

    return int(export(args.scenario, args.router, args.overrides, args.out))


SERVE = Verb(_add_serve, _serve)
VALIDATE = Verb(_add_validate, _validate)
EXPORT = Verb(_add_export, _export)
