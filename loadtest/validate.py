"""``orchsim validate``: measure a scenario on the mock service with locust, simulate it, compare.

Steps: start the mock topology (faults left out: the load generator plays them on its own clock),
wait for ``/ready``, measure the HTTP path's fixed overhead at low load, run the open-loop
locustfile headless in its own process for the scaled duration, stop everything, simulate the
same scenario and seed, and read both sides with ``sim.analysis.metrics``. Every process started here is
stopped on the way out, on errors and on Ctrl-C (SIGTERM too).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from loadtest.balancers.binary import BalancerMissingError, router_identity
from loadtest.balancers.routers import check_routers, routers_table
from loadtest.balancers.serve import balanced_topology
from loadtest.balancers.topology import BalancedTopology
from loadtest.comparison import compare_sides, write_validation
from loadtest.mock.topology import Topology, TopologyError, check_ports
from loadtest.overhead import HttpOverhead, measure_overhead
from loadtest.path_delay import Delays
from loadtest.records import read_records
from loadtest.target import HEADERS_ENV, parse_target
from loadtest.validate_plots import plot_validation
from loadtest.verdict import Tolerances, parse_tolerances, rows_table
from sim.cli import ui
from sim.experiments.testhook import hold
from sim.output.out_folder import claim, set_aside, stamp_run
from sim.output.outputs import new_run_dir, write_resolved
from sim.output.plots import try_plots
from sim.scenario import Scenario
from sim.scenario.loading import load_scenario
from sim.scenario.paths import scenarios_dir

__all__ = [
    "INCONCLUSIVE",
    "LOCUSTFILE",
    "ValidateError",
    "ValidateOptions",
    "command",
    "fine_windows",
    "run_load",
    "validate",
]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
INCONCLUSIVE = 3  # exit code: the measuring apparatus was too late to measure with (Validation.verdict)
# Both sides serve each request with the same work (its own draw, sent to the mock in the request),
# so that what differs is the model, not the luck of the draws; --set can turn it back to per_server.
SHARED_WORK = "workload.service_draws=per_request"


class ValidateError(Exception):
    """A failure while validating; ``code`` is the exit code (1 a failure, 2 bad usage)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ValidateOptions:
    """How ``orchsim validate`` runs."""

    time_scale: float = 10.0
    port: int = 8800
    stream: bool = True
    max_tokens: int = 8
    ready_timeout_s: float = 30.0
    overhead_samples: int = 20
    locustfile: Path = LOCUSTFILE
    overrides: list[str] = field(default_factory=list)
    noise_seeds: int = 10  # extra simulations that measure each row's sampling noise (0: none)
    target: str | None = None  # a user's endpoint to measure instead of the mock (no faults played)
    headers: tuple[str, ...] = ()  # 'Name: value' sent with every request to the target (secret)
    model: str | None = None  # the model every request names
    ca_file: str | None = None
    insecure: bool = False
    router: str = "builtin"  # what routes the measured requests: orchsim's router, haproxy or nginx


def mock_scenario_file(out: Path, scenario: Scenario, seed: int) -> Path:
    """The scenario the mock serves: the same, minus its faults (locust plays them on its clock)."""
    data = scenario.model_dump(mode="json")
    data.update(seed=seed, faults=[])
    path = out / "mock-scenario.yaml"
    path.write_text("# written by orchsim validate: faults are played by the load generator\n" + yaml.safe_dump(data))
    return path


def run_seconds(scenario: Scenario, time_scale: float) -> float:
    """Real seconds locust may run: the scenario, then the longest a request can live, plus slack."""
    clients = scenario.clients
    if clients.timeout is None:
        tail_s = scenario.drain
    else:
        retries = clients.retries
        tail_s = (retries.max + 1) * clients.timeout + retries.max * retries.cap
    return (scenario.duration + tail_s) / time_scale + 15.0


def run_load(
    out: Path, scenario: Scenario, seed: int, options: ValidateOptions, log: list[str]
) -> tuple[Path, HttpOverhead]:
    """Mock up, overhead measured, locust run; everything stopped. Returns (records CSV, overhead).
    With a target: locust alone, against it."""
    if options.target is not None:
        log.append(f"load sent to {options.target}: no mock, no HTTP overhead measured, no faults played")
        return _run_locust(out, scenario, seed, options, None), HttpOverhead(0.0, None, 0)  # SIGTERM: Ctrl-C
    mock_path = mock_scenario_file(out, scenario, seed)
    ports = [options.port + i for i in range(len(scenario.clusters) + 1)] if options.router == "builtin" else []
    try:
        check_ports(ports)
    except TopologyError as exc:
        raise ValidateError(f"{exc} (the mock needs ports {ports[0]}..{ports[-1]})", code=2) from None
    with _mock(mock_path, scenario, options) as topology:  # SIGTERM is a Ctrl-C here (sim.cli.interrupts)
        overhead = measure_overhead(topology.url, options.overhead_samples, options.max_tokens, options.stream)
    log.append(_overhead_line(overhead, options.overhead_samples))
    # a fresh mock for the run: the probes above drew service times and routing choices, and the
    # run should start from the same random streams as the simulation (same seed, same order)
    with _mock(mock_path, scenario, options) as topology:
        records = _run_locust(out, scenario, seed, options, topology)
    return records, overhead


@contextmanager
def _mock(path: Path, scenario: Scenario, options: ValidateOptions) -> Iterator[Topology | BalancedTopology]:
    """The mock topology (behind the balancer asked for), ready, for the block; stopped after it whatever happens."""
    served = scenario.model_copy(update={"faults": []})
    topology: Topology | BalancedTopology
    if options.router == "builtin":
        topology = Topology(path, served, options.port, options.time_scale, [])
    else:
        topology = balanced_topology(
            path, served, options.router, options.port, options.time_scale, path.parent / options.router, []
        )
    try:
        topology.start(options.ready_timeout_s)
        yield topology
    except TopologyError as exc:
        raise ValidateError(f"mock service: {exc}") from None
    finally:
        topology.stop()


def _locust_command(out: Path, seed: int, options: ValidateOptions, urls: tuple[str, str], run_s: float) -> list[str]:
    url, admin_url = urls
    command = [sys.executable, "-m", "locust", "-f", str(options.locustfile.resolve()), "--headless"]
    if admin_url != url:  # faults go to orchsim's router, not through the balancer
        command += ["--admin-url", admin_url]
    command += ["-u", "1", "-r", "1", "-t", f"{math.ceil(run_s)}s", "--host", url, "--only-summary"]
    command += ["--csv", str(out / "locust"), "--html", str(out / "locust.html"), "--stop-timeout", "5"]
    command += ["--exit-code-on-error", "0", "--scenario", str(out / "scenario.resolved.yaml")]
    command += ["--scenario-seed", str(seed), "--time-scale", repr(options.time_scale)]
    command += ["--max-tokens", str(options.max_tokens), "--records", str(out / "measured_requests.csv")]
    command += ["--inject-faults"] if options.target is None else _target_options(options)
    return command + (["--stream"] if options.stream else [])


def _target_options(options: ValidateOptions) -> list[str]:
    """The target's options on locust's command line (its headers go by the environment: secrets)."""
    command = ["--model", options.model] if options.model else []
    command += ["--ca-file", str(Path(options.ca_file).resolve())] if options.ca_file else []
    return command + (["--insecure"] if options.insecure else [])


def _locust_env(options: ValidateOptions) -> dict[str, str]:
    """The environment of the locust process: ours, plus --header lines in ORCHSIM_HEADERS."""
    env = dict(os.environ)
    if options.headers:
        env[HEADERS_ENV] = "\n".join([*env.get(HEADERS_ENV, "").splitlines(), *options.headers])
    return env


def _run_locust(
    out: Path, scenario: Scenario, seed: int, options: ValidateOptions, topology: Topology | BalancedTopology | None
) -> Path:
    run_s = run_seconds(scenario, options.time_scale)
    url = topology.url if topology is not None else str(options.target)
    admin_url = topology.admin_url if topology is not None else url
    command = _locust_command(out, seed, options, (url, admin_url), run_s)
    log_path = out / "locust.log"
    with (
        log_path.open("w") as log,
        subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=out, env=_locust_env(options)
        ) as locust,
    ):
        try:
            hold("locust started")
            _supervise(locust, topology, run_s + 60.0)
        finally:
            _stop(locust)
    if locust.returncode != 0:
        tail = " | ".join(log_path.read_text().strip().splitlines()[-3:])
        raise ValidateError(f"locust exited with code {locust.returncode} (see {log_path}): {tail}")
    records = out / "measured_requests.csv"
    if not records.exists():
        raise ValidateError(f"locust wrote no records (see {log_path})")
    return records


def _supervise(locust: subprocess.Popen[bytes], topology: Topology | BalancedTopology | None, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while locust.poll() is None:
        if topology is not None:
            topology.check_children()
        if time.monotonic() > deadline:
            raise ValidateError(f"locust still running after {limit_s:.0f} s; stopped it")
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def fine_windows(scenario: Scenario, minimum: int = 20) -> Scenario:
    """``scenario`` with windows short enough for ``minimum`` points over time (plots of short runs)."""
    if scenario.duration / scenario.window >= minimum:
        return scenario
    return scenario.model_copy(update={"window": scenario.duration / (2 * minimum)})


def validate(
    scenario_path: Path,
    out: Path,
    seed: int | None,
    options: ValidateOptions,
    tolerances: Tolerances,
    plots: bool,
    say: Callable[[object], None],
) -> int:
    """The whole validation into ``out``; 0 when every row is within tolerance, 1 otherwise, ``INCONCLUSIVE``
    when the measuring apparatus was later than ``tolerances.apparatus`` allows (its rows are written all
    the same)."""
    implementation = [f"router.implementation={options.router}"]  # the simulator models the same balancer
    if options.router != "builtin":  # ... on the clock it runs on here (nginx's fail_timeout: whole seconds)
        implementation.append(f"router.balancer_time_scale={options.time_scale:g}")
    scenario = fine_windows(load_scenario(scenario_path, [SHARED_WORK, *implementation, *options.overrides]))
    if options.target is not None:  # nobody plays faults on a user's endpoint: simulate none either
        scenario = scenario.model_copy(update={"faults": []})
    seed = scenario.seed if seed is None else seed
    write_resolved(out / "scenario.resolved.yaml", scenario, seed)
    say(
        f"orchsim validate: {scenario.name} (seed {seed}) at time scale {options.time_scale:g}: "
        f"{scenario.duration / options.time_scale:.0f} s of load on the mock, then the simulation; "
        f"service draws {scenario.workload.service_draws.replace('_', '-')}"
    )
    notes: list[str] = []
    records_path, overhead = run_load(out, scenario, seed, options, notes)
    records = read_records(records_path)
    tokens = options.max_tokens if options.stream else None
    validation = compare_sides(
        scenario, seed, records, overhead, options.time_scale, tolerances, tokens, options.noise_seeds
    )
    write_validation(out, validation, router_identity(options.router))
    ui.emit(json.loads((out / "validation.json").read_text(encoding="utf-8")))  # what --json prints
    if plots:  # after the data files: a plot that fails costs no data
        try_plots("validate", lambda: plot_validation(out, validation, scenario.name))
    for note in notes:
        say(note)
    lag = validation.dispatch_lag_s
    say(
        f"{_delay_line(validation.delays, overhead, options.time_scale)}; "
        f"dispatch lag p50 {1000 * (lag.p50 or 0):.2f} ms, p99 {1000 * (lag.p99 or 0):.2f} ms real"
    )
    say(rows_table(validation.rows, f"{scenario.name}: simulated vs measured ({len(records):,} attempts measured)"))
    noisy = sum(r.within_noise_only for r in validation.rows)
    failed = sum(not r.passed for r in validation.rows)
    verdict = "every row within tolerance" if not failed else f"{failed} rows out of tolerance"
    if noisy:
        verdict += f" ({noisy} only within the sampling noise of {options.noise_seeds} more simulated seeds: pass*)"
    say(validation.apparatus.line(options.time_scale))
    if validation.verdict == "inconclusive":
        say(f"inconclusive ({verdict} while the load generator was starved); results in {out}")
        return INCONCLUSIVE
    say(f"{verdict}; results in {out}")
    return 0 if validation.passed else 1


def _overhead_line(overhead: HttpOverhead, asked: int) -> str:
    if overhead.samples == 0:
        return f"HTTP overhead at low load: none of {asked} probes answered with the backend's timing; no delay added"
    first = "" if overhead.first_token_s is None else f", to the first token {1000 * overhead.first_token_s:.2f} ms"
    return (
        f"HTTP overhead at low load: {1000 * overhead.answer_s:.2f} ms real to the answer{first} "
        f"(medians of {overhead.samples} of {asked} probes)"
    )


def _delay_line(delays: Delays, overhead: HttpOverhead, time_scale: float) -> str:
    if not delays.measured:
        first_s = overhead.first_token_s
        first = "" if first_s is None else f" ({first_s * time_scale:.4f} s to the first token)"
        return f"network delay added to the simulated side: {overhead.answer_s * time_scale:.4f} simulated s{first}"
    real_ms = 1000 / time_scale
    way_in = np.percentile(delays.inbound_s, [50, 99]) * real_ms
    way_out = np.percentile(delays.answer_s, [50, 99]) * real_ms
    return (
        f"each simulated request arrives as late as its measured one reached the backend and answers as late "
        f"after its service ({delays.answer_s.size:,} attempts measured; way in p50 {way_in[0]:.2f} ms, "
        f"p99 {way_in[1]:.2f} ms; way out p50 {way_out[0]:.2f} ms, p99 {way_out[1]:.2f} ms real)"
    )


def command(args: Any, say: Callable[[object], None], stamp: Callable[[], str]) -> int:
    """``orchsim validate`` from parsed arguments; the exit code."""
    path = Path(args.scenario) if args.scenario else scenarios_dir() / "validate-steady.yaml"
    scenario = load_scenario(path, args.overrides)  # a bad scenario fails here (exit 2), before any process
    if scenario.workload.users is not None:
        print(
            f"orchsim validate: {path}: workload.users: the load generator replays open-loop arrivals only",
            file=sys.stderr,
        )
        return 2
    routers: list[str] = getattr(args, "router", None) or ["builtin"]
    if args.target is not None and routers != ["builtin"]:
        print(
            "orchsim validate: --router: a --target is measured as it is, behind no router of orchsim's",
            file=sys.stderr,
        )
        return 2
    try:
        tolerances = parse_tolerances(args.tolerance)
        check_routers(path, scenario, routers if args.target is None else [])  # a --target has no mock
    except (ValueError, BalancerMissingError) as exc:
        print(f"orchsim validate: {exc}" if isinstance(exc, ValueError) else str(exc), file=sys.stderr)
        return 2
    locustfile = Path(args.locustfile) if args.locustfile else LOCUSTFILE
    if args.target is not None:
        try:  # a bad URL, header or CA file is a usage error here, not a failed locust run
            parse_target(args.target, args.header, args.model, args.ca_file, args.insecure)
        except ValueError as exc:
            print(f"orchsim validate: {exc}".replace("--host", "--target"), file=sys.stderr)
            return 2
    options = ValidateOptions(
        args.time_scale,
        args.port,
        args.stream,
        args.max_tokens,
        args.ready_timeout,
        20,
        locustfile,
        args.overrides,
        args.noise_seeds,
        args.target,
        tuple(args.header),
        args.model,
        args.ca_file,
        args.insecure,
    )
    default = lambda: new_run_dir(Path("runs"), f"validate-{path.stem}", stamp)  # noqa: E731
    out_dir = claim(args.out, "validate", default, args.overwrite).resolve()  # locust runs inside it
    if args.overwrite:
        set_aside(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    codes = []
    try:
        for router in routers:
            folder = out_dir if len(routers) == 1 else out_dir / router
            folder.mkdir(parents=True, exist_ok=True)
            if len(routers) > 1:
                say(f"== behind {router}")
            codes.append(
                validate(path, folder, args.seed, replace(options, router=router), tolerances, args.plots, say)
            )
        stamp_run(out_dir, "validate", since=started - 1.0)  # older files: an earlier validate's
    except ValidateError as exc:
        print(f"orchsim validate: {exc}", file=sys.stderr)
        return exc.code
    if len(routers) > 1:
        say(routers_table(out_dir, routers, scenario.name))
    return 1 if 1 in codes else max(codes)  # a failure is not hidden by another router's inconclusive run
