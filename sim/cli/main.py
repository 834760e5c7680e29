"""Command-line interface: parses arguments and delegates to ``sim.cli.commands``.

Every verb gets the shared options (``--json``, ``-q/--quiet``, ``--tz``), help that shows defaults,
and its example from ``EXAMPLES``, from ``add_shared_options`` at the end of ``build_parser``: a new
verb only adds its sub-parser and its branch in ``_dispatch``. A verb gives its JSON document with
``sim.cli.ui.emit(document)``; one that does not still prints one JSON document under ``--json``
(``{"verb", "exit_code", "output": [its lines]}``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Sequence
from typing import Any

from sim import __version__
from sim.cli import ui
from sim.cli.interrupts import exit_code, signal_name, sigterm_as_interrupt
from sim.cli.options import (
    EXAMPLES,
    SCENARIO_HELP,
    HelpFormatter,
    add_safety_options,
    add_set,
    add_shared_options,
    non_negative,
    positive,
)
from sim.cli.verbs import add_plugged_verbs
from sim.compiled import engine_label
from sim.experiments.cost import cli_refusal
from sim.output.out_folder import OutFolderError
from sim.scenario.loading import ScenarioError
from sim.scenario.paths import resolve_scenario

__all__ = ["EXAMPLES", "HelpFormatter", "add_shared_options", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``orchsim`` argument parser with one sub-command per verb."""
    parser = argparse.ArgumentParser(
        prog="orchsim",
        description="Simulate, compare and load-test the routing layer of an LLM service.",
        epilog="A shipped scenario may be named without its path: orchsim run peak-hour-surge. "
        "Every verb takes --json, -q/--quiet and --tz; orchsim VERB --help shows its options and an example.",
    )
    engine = engine_label()  # sim.compiled: how it was installed, and whether still in use
    parser.add_argument("--version", action="version", version=f"orchsim {__version__} (engine: {engine})")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    run = verbs.add_parser(
        "run", help="simulate one scenario", description="Simulate one scenario and write its output folder."
    )
    run.add_argument(
        "scenario",
        nargs="?",
        help="scenario file or shipped scenario name (default: the flagship scenario shipped in scenarios/)",
    )
    run.add_argument("--seed", type=non_negative, help="root seed (default: the scenario's seed)")
    add_set(run)
    run.add_argument("--out", metavar="DIR", help="output folder (default: a new folder under runs/)")
    run.add_argument("--no-plots", dest="plots", action="store_false", help="skip the PNG plots")
    run.add_argument(
        "--no-baseline",
        dest="baseline",
        action="store_false",
        help="skip the scenario's baseline run (scenarios with a baseline: section run both, side by side)",
    )
    run.add_argument(
        "--seeds",
        type=positive,
        default=1,
        help="run N seeds, from --seed on (default 1); the scenario's reference table shows mean and range",
    )
    run.add_argument("--jobs", type=positive, default=2, help="parallel processes (default 2)")

    check = verbs.add_parser("check", help="validate scenario files", description="Validate scenario files.")
    check.add_argument("files", nargs="*", metavar="SCENARIO", help=SCENARIO_HELP)
    check.add_argument("--schema", action="store_true", help="print the JSON Schema of scenario files")
    check.add_argument(
        "--write-schema",
        metavar="FILE",
        help="write the JSON Schema to FILE (the shipped copy: scenarios/orchsim.schema.json)",
    )
    add_set(check)

    verbs.add_parser("strategies", help="list load-balancing strategies", description="List load-balancing strategies.")
    _add_compare(verbs)
    _add_sweep(verbs)
    _add_capacity(verbs)
    _add_phase(verbs)
    add_plugged_verbs(verbs)  # serve, validate and export: loadtest's (sim.cli.verbs)
    report = verbs.add_parser(
        "report",
        help="write one self-contained HTML report of an output folder",
        description="Write DIR/report.html from a run, compare or validate output folder: summary table, "
        "incident timeline, status-page states and the plots, embedded so that it opens in any browser offline.",
    )
    report.add_argument("folder", metavar="DIR", help="output folder of orchsim run, compare or validate")
    _add_calibrate(verbs)
    add_shared_options(verbs)
    add_safety_options(verbs)
    return parser


def _add_calibrate(verbs: Any) -> None:
    calibrate = verbs.add_parser(
        "calibrate",
        help="fit LLM server profiles to measured closed-loop runs",
        description="Fit one step-model profile per config to measured mean TTFT/TPOT at fixed concurrency "
        "(CSV, vllm bench serve --save-result JSON, guidellm report, orchsim load-test records); write "
        "profiles.yaml, calibration.json, a plot, and with --predict predictions.csv, each point simulated "
        "by the engine of orchsim run.",
    )
    calibrate.add_argument("measured", nargs="+", metavar="MEASURED", help="files of measured runs")
    calibrate.add_argument("--format", default="auto", choices=("auto", "csv", "vllm-bench", "guidellm", "orchsim"))
    calibrate.add_argument("--predict", metavar="POINTS.csv", help="points to simulate with the fitted profiles")
    calibrate.add_argument("--rounds", type=positive, default=10, help="requests per user in the benchmark (10)")
    calibrate.add_argument("--out", metavar="DIR", help="output folder (default: a new folder under runs/)")


def _add_phase(verbs: Any) -> None:
    phase = verbs.add_parser(
        "phase",
        help="metastability phase diagram over trigger size x duration",
        description="Replace the scenario's surges and faults by one trigger, run every magnitude x duration for "
        "N seeds, and draw which ones the system recovers from and which leave it metastable.",
    )
    phase.add_argument("scenario", metavar="SCENARIO", help=SCENARIO_HELP)
    phase.add_argument("--trigger", default="surge", help="surge, or KIND:TARGET: crash:us-east, slowdown:us-east/3")
    phase.add_argument("--magnitudes", required=True, help="surge/slowdown factors or crash/error shares: 2,4,8")
    phase.add_argument("--durations", required=True, help="trigger durations: 5s,30s,2m")
    phase.add_argument("--at", default="10m", help="when the trigger starts (default 10m)")
    phase.add_argument("--seeds", type=positive, default=3, help="seeds per cell (default 3)")
    _add_jobs(phase)
    add_set(phase)
    phase.add_argument("--out", metavar="DIR", help="output folder (default: a new folder under runs/)")


def _add_capacity(verbs: Any) -> None:
    capacity = verbs.add_parser(
        "capacity",
        help="smallest value of a parameter that meets a target",
        description="Find the smallest (or with --maximize the largest) value of a scenario parameter that meets "
        "a target over N seeds, judged on the 95% CI bound on the unfavourable side, by bracketing and bisection.",
    )
    capacity.add_argument("scenario", metavar="SCENARIO", help=SCENARIO_HELP)
    capacity.add_argument("--param", required=True, metavar="PATH", help="scenario field, e.g. clusters.0.servers")
    capacity.add_argument(
        "--target", required=True, metavar="EXPR", help="e.g. 'availability>=0.999 and latency_s.p99<=20'"
    )
    capacity.add_argument("--range", dest="range_", metavar="LO:HI", help="search only in this range")
    capacity.add_argument("--maximize", action="store_true", help="largest value that meets the target")
    capacity.add_argument("--tolerance", type=float, default=0.01, help="relative precision for real parameters")
    capacity.add_argument("--seeds", type=positive, default=3, help="seeds per value (default 3)")
    _add_jobs(capacity)
    _add_executor(capacity)
    add_set(capacity)
    capacity.add_argument("--out", metavar="DIR", help="output folder (default: a new folder under runs/)")


def _add_sweep(verbs: Any) -> None:
    sweep = verbs.add_parser(
        "sweep",
        help="run a parameter grid x seeds (resumable; local cores or Dask)",
        description="Run every point of a parameter grid for N seeds. Each finished run is saved at once; "
        "rerunning the same command skips finished runs.",
    )
    sweep.add_argument("scenario", metavar="SCENARIO", help=SCENARIO_HELP)
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        required=True,
        metavar="PATH=V1,V2,...",
        help="a scenario field and its values, or an inclusive range LO:HI:STEP (repeat for more dimensions)",
    )
    sweep.add_argument("--seeds", type=positive, default=3, help="seeds per point (default 3)")
    _add_jobs(sweep)
    _add_executor(sweep)
    add_set(sweep)
    sweep.add_argument("--out", metavar="DIR", help="output folder (default runs/sweep-NAME; reused to resume)")
    sweep.add_argument("--no-plots", dest="plots", action="store_false", help="skip the PNG plots")


def _add_compare(verbs: Any) -> None:
    compare = verbs.add_parser(
        "compare",
        help="compare strategies and mitigations on identical traffic over many seeds",
        description="Run every strategy and variant on the same workload (common random numbers) for N seeds; print "
        "means with 95% confidence intervals, a ranking, and paired differences to the best.",
    )
    compare.add_argument("scenario", metavar="SCENARIO", help=SCENARIO_HELP)
    compare.add_argument(
        "--strategies",
        metavar="A,B,...",
        help="strategies, each with optional parameters: power_of_two,peak_ewma:decay=10s,power_of_d:d=3",
    )
    compare.add_argument(
        "--variant",
        dest="variants",
        action="append",
        nargs="+",
        default=[],
        metavar=("NAME", "PATH=VALUE"),
        help="one more row: the scenario's own routing with these overrides, e.g. --variant recompute "
        "clusters.0.service.preemption=recompute (repeatable; give SCENARIO before it)",
    )
    compare.add_argument("--seeds", type=positive, default=5, help="seeds per strategy (default 5)")
    _add_jobs(compare)
    compare.add_argument(
        "--rank-by",
        default="availability",
        metavar="METRIC",
        help="summary figure to rank by, e.g. availability, latency_s.p99 (default availability)",
    )
    add_set(compare)
    compare.add_argument("--out", metavar="DIR", help="output folder (default: a new folder under runs/)")
    compare.add_argument("--no-plots", dest="plots", action="store_false", help="skip the PNG plots")


def _add_jobs(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--jobs", type=positive, default=os.cpu_count() or 1, help="local processes (default: all cores)")


def _add_executor(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--executor", metavar="URL", help="dask://HOST:PORT runs on a Dask distributed cluster")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``orchsim`` and ``python -m sim``; returns the exit code.

    With ``--json`` the verb's own stdout is kept aside and only its JSON document is printed; with
    ``--quiet`` its stdout is dropped. Errors go to stderr in every mode.
    """
    args = build_parser().parse_args(argv)
    if getattr(args, "admin_token", None):  # the mock's processes and orchsim's clients read it from there
        os.environ["ORCHSIM_ADMIN_TOKEN"] = args.admin_token
    ui.set_mode(json=args.json, quiet=args.quiet, tz=args.tz)
    kept = io.StringIO()
    hidden = args.json or args.quiet
    with contextlib.redirect_stdout(kept) if hidden else contextlib.nullcontext():
        code = _guarded(args)
    if args.json:
        waiting, document = ui.pending()
        if waiting:
            ui.write_document(document)
        elif not ui.printed() and code == 0:  # a verb without a document of its own: its lines
            ui.write_document({"verb": args.verb, "exit_code": code, "output": kept.getvalue().splitlines()})
    return code


def _guarded(args: argparse.Namespace) -> int:
    try:
        if isinstance(getattr(args, "scenario", None), str):
            args.scenario = str(resolve_scenario(args.scenario))
        refused = cli_refusal(args)
        if refused:
            raise ScenarioError(refused)
        with sigterm_as_interrupt():
            return _dispatch(args)
    except ScenarioError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return 2
    except OutFolderError as exc:
        print(f"orchsim {args.verb}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(
            f"orchsim: stopped by {signal_name(exc)}; files already written are complete, partial ones removed",
            file=sys.stderr,
        )
        return exit_code(exc)
    except Exception as exc:  # a failure while running: one line, exit 1 (ORCHSIM_DEBUG=1 for the traceback)
        if os.environ.get("ORCHSIM_DEBUG"):
            raise
        print(f"orchsim: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    from sim.cli import commands  # deferred: keeps --help fast

    plugged = getattr(args, "plugged", None)
    if plugged is not None:
        return int(plugged(args))
    if args.verb == "run":
        return commands.run(
            args.scenario,
            args.seed,
            args.overrides,
            args.out,
            args.plots,
            args.baseline,
            args.overwrite,
            args.seeds,
            args.jobs,
        )
    if args.verb == "check":
        return commands.check(args.files, args.schema, args.overrides, args.write_schema)
    if args.verb == "report":
        return commands.report(args.folder)
    if args.verb == "calibrate":
        from sim.cli.calibrate import calibrate  # deferred: scipy only when calibrating

        return calibrate(args)
    if args.verb == "phase":
        return commands.phase(
            args.scenario, args.trigger, args.magnitudes, args.durations, args.at, args.seeds, args.jobs,
            args.overrides, args.out, args.overwrite, args.force,
        )  # fmt: skip
    if args.verb == "capacity":
        options = commands.CapacityOptions(args.seeds, args.jobs, args.executor, args.maximize, args.tolerance)
        return commands.capacity(
            args.scenario, args.param, args.target, args.range_, options, args.overrides, args.out, args.overwrite,
            args.force,
        )  # fmt: skip
    if args.verb == "sweep":
        return commands.sweep(
            args.scenario, args.grid, args.seeds, args.jobs, args.executor, args.overrides, args.out, args.plots,
            args.overwrite, args.force,
        )  # fmt: skip
    if args.verb == "compare":
        return commands.compare(
            args.scenario, args.strategies, args.variants, args.seeds, args.jobs, args.rank_by, args.overrides,
            args.out, args.plots, args.overwrite, args.force,
        )  # fmt: skip
    return commands.strategies()


def entry() -> None:
    """Console-script wrapper."""
    sys.exit(main())
