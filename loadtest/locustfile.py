"""Open-loop load from an orchsim scenario, for plain locust::

    ORCHSIM_SCENARIO=scenarios/validate-steady.yaml locust -f loadtest/locustfile.py \\
        --host http://127.0.0.1:8800 --time-scale 10 --headless -u 1 -r 1 --csv out/run

One ``ScenarioUser`` per process dispatches that process's share of the scenario's trace (the
simulator's own arrivals for the scenario and seed, divided by the time scale): each request is
sent at its scheduled time whatever the server does, so use ``-u`` = number of processes (extra
users stay idle). Locust's statistics get one sample per attempt ("POST", named after the
request class) timed from when the attempt was due, and a "TTFT" row per class (one sample per
streamed success) that stays out of the totals: the report counts each request once.
``--host`` may be a user's own endpoint: ``https://host/base/path`` with ``--header 'Name: value'``
(or ORCHSIM_AUTH_TOKEN), ``--model NAME``, ``--ca-file PATH`` or ``--insecure`` (``loadtest.target``).
Per-attempt records go to ``PREFIX_requests.csv`` next to ``--csv PREFIX`` (or ``--records
PATH``); under ``--processes N`` or master/worker (give ``--shards N`` there) each worker sends
its records to the master, which writes them merged and ends the run once every worker is done.
"""

from __future__ import annotations

import math
from dataclasses import astuple
from pathlib import Path
from typing import Any

import gevent
import numpy as np
from locust import User, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtest.locust_options import add_arguments
from loadtest.openloop import Dispatcher, LoadPlan
from loadtest.records import Record, records_path, write_records
from loadtest.target import Target, parse_target
from sim.scenario import Scenario
from sim.scenario.loading import ScenarioError, load_scenario

__all__ = ["ScenarioUser"]

STATE: dict[str, Any] = {"dispatcher": None, "written": False}
RECORDS_MESSAGE = "orchsim_records"
CHUNK_ROWS = 5000  # rows per message from a worker to the master


events.init_command_line_parser.add_listener(add_arguments)


def _scenario(options: Any) -> Scenario:
    """The scenario of ``--scenario``; SystemExit with one line per problem (locust exits at start-up)."""
    if not options.scenario:
        raise SystemExit("orchsim locustfile: give a scenario (--scenario PATH or ORCHSIM_SCENARIO)")
    if STATE.get("scenario") is None:
        try:
            STATE["scenario"] = load_scenario(options.scenario)
        except ScenarioError as exc:
            raise SystemExit("\n".join(exc.lines)) from None
    scenario: Scenario = STATE["scenario"]
    return scenario


def _target(host: str, options: Any) -> Target:
    """Where to send: ``--host`` with orchsim's --header, --model, --ca-file, --insecure and the
    environment's headers; a bad one stops locust with the option named (never a header's value)."""
    try:
        return parse_target(host, options.header, options.model, options.ca_file, options.insecure)
    except ValueError as exc:
        raise SystemExit(f"orchsim locustfile: {exc}") from None


def _plan(environment: Environment, shard: int) -> LoadPlan:
    options: Any = environment.parsed_options
    scenario = _scenario(options)
    shards = options.shards or max(options.processes or 1, 1)
    seed = scenario.seed if options.scenario_seed is None else options.scenario_seed
    return LoadPlan(
        scenario,
        options.time_scale,
        seed,
        options.stream,
        options.max_tokens,
        shard,
        shards,
        options.inject_faults,
        options.admin_url,
    )


def _report(environment: Environment) -> Any:
    def report(record: Record, length: int) -> None:
        dispatcher: Dispatcher | None = STATE["dispatcher"]
        name = f"chat {dispatcher.class_names[record.klass] if dispatcher else record.klass}"
        failed = None if record.status == 200 else RuntimeError(f"HTTP {record.status}")
        environment.events.request.fire(
            request_type="POST",
            name=name,
            response_time=(record.end_s - record.intended_s) * 1000.0,
            response_length=length,
            exception=failed,
            context={"attempt": record.attempt},
        )
        if record.status == 200 and not math.isnan(record.first_token_s):
            # a row of its own, outside locust's totals (events.request would count it as a request);
            # milliseconds as a float, as locust's own request events log them
            ttft_ms = (record.first_token_s - record.intended_s) * 1000.0
            environment.stats.get(name, "TTFT").log(ttft_ms, 0)  # type: ignore[arg-type]

    return report


class ScenarioUser(User):
    """The open-loop dispatcher of this process (one per process does the work)."""

    host = "http://127.0.0.1:8800"

    @task
    def dispatch(self) -> None:
        if STATE["dispatcher"] is not None:
            gevent.sleep(3600)  # a second user in this process: the first one sends everything
            return
        runner, options = self.environment.runner, self.environment.parsed_options
        shard = runner.worker_index if isinstance(runner, WorkerRunner) else 0
        dispatcher = Dispatcher(_plan(self.environment, shard), _target(self.host, options), _report(self.environment))
        STATE["dispatcher"] = dispatcher
        dispatcher.run()
        _finish(self.environment)
        if runner is not None and not isinstance(runner, WorkerRunner):
            _end(self.environment)
        gevent.sleep(3600)


def _end(environment: Environment) -> None:
    """Everything answered: quit when headless, stop the test (the web UI stays up) otherwise."""
    runner = environment.runner
    if runner is not None:
        headless = bool(getattr(environment.parsed_options, "headless", True))
        gevent.spawn(runner.quit if headless else runner.stop)


def _final_path(environment: Environment) -> Path:
    options = environment.parsed_options
    return records_path(getattr(options, "csv_prefix", None), getattr(options, "records", None))


def _shards(environment: Environment) -> int:
    options = environment.parsed_options
    return int(getattr(options, "shards", 0) or getattr(options, "processes", 0) or 1)


def _finish(environment: Environment) -> None:
    """This process is done: write its records (alone) or send them to the master (a worker)."""
    dispatcher: Dispatcher | None = STATE["dispatcher"]
    if dispatcher is None or STATE["written"]:
        return
    dispatcher.stop()
    STATE["written"] = True
    _print_lag(dispatcher)
    runner = environment.runner
    if not isinstance(runner, WorkerRunner):
        write_records(_final_path(environment), dispatcher.records)
        return
    rows = [astuple(r) for r in dispatcher.records]
    for start in range(0, max(len(rows), 1), CHUNK_ROWS):
        last = start + CHUNK_ROWS >= len(rows)
        runner.send_message(
            RECORDS_MESSAGE, {"shard": dispatcher.plan.shard, "rows": rows[start : start + CHUNK_ROWS], "last": last}
        )


def _print_lag(dispatcher: Dispatcher) -> None:
    lag_ms = 1000.0 * dispatcher.dispatch_lag_s()
    if lag_ms.size:
        p50, p99 = np.percentile(lag_ms, (50, 99))
        print(
            f"orchsim: shard {dispatcher.plan.shard}: {dispatcher.planned} user requests, {len(dispatcher.records)} "
            f"attempts; dispatch lag p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {lag_ms.max():.2f} ms",
            flush=True,
        )


@events.init.add_listener
def _on_init(environment: Environment, **kwargs: Any) -> None:
    if environment.parsed_options is not None:
        _scenario(environment.parsed_options)  # a missing or invalid scenario stops locust before it starts
    if isinstance(environment.runner, MasterRunner):
        STATE.update(collected=[], done=set())
        environment.runner.register_message(RECORDS_MESSAGE, _collector(environment))


def _collector(environment: Environment) -> Any:
    def collect(environment: Environment, msg: Any, **kwargs: Any) -> None:
        STATE["collected"].extend(Record(*row) for row in msg.data["rows"])
        if msg.data["last"]:
            STATE["done"].add(msg.data["shard"])
        if len(STATE["done"]) >= _shards(environment) and not STATE["written"]:
            _write_merged(environment)
            _end(environment)  # every worker answered all its requests

    return collect


def _write_merged(environment: Environment) -> None:
    STATE["written"] = True
    final = _final_path(environment)
    write_records(final, STATE["collected"])
    shards, done = _shards(environment), len(STATE["done"])
    missing = "" if done >= shards else f"; {shards - done} did not report (stopped before their end?)"
    print(f"orchsim: records of {done} of {shards} workers merged into {final}{missing}", flush=True)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **kwargs: Any) -> None:
    """A new test (the web UI's start button again): send the trace again, from scratch."""
    STATE.update(dispatcher=None, written=False, collected=[], done=set())


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **kwargs: Any) -> None:
    _finish(environment)


@events.quitting.add_listener
def _on_quitting(environment: Environment, **kwargs: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        if not STATE["written"]:
            _write_merged(environment)
    else:
        _finish(environment)
