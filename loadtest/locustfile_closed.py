"""Closed-loop alternative: locust's own user model, the user count following the scenario's rate profile::

    ORCHSIM_SCENARIO=scenarios/validate-steady.yaml locust -f loadtest/locustfile_closed.py \\
        --host http://127.0.0.1:8800 --time-scale 10 --headless

This is *closed loop*: each user sends a request, waits for its answer, then paces itself to one
request every ``PACING_S`` real seconds. ``ScenarioShape`` sets users = rate(t) x pacing so the
offered rate matches the scenario only while the server keeps up; once answers take longer than
the pacing, users wait and the offered rate falls (the coordinated omission that
``loadtest/locustfile.py`` avoids). No retries, no per-attempt records: use it for exploration in
locust's web UI, and the open-loop locustfile (or ``orchsim validate``) for measurements.
"""

from __future__ import annotations

import math

import numpy as np
from locust import FastHttpUser, LoadTestShape, constant_pacing, events, task

from loadtest.locust_options import add_arguments
from loadtest.wire import chat_body
from sim.scenario import Scenario
from sim.scenario.loading import load_scenario
from sim.workload.trace import rate_at

__all__ = ["ChatUser", "ScenarioShape"]

PACING_S = 1.0  # real seconds between the starts of one user's requests

events.init_command_line_parser.add_listener(add_arguments)


class ChatUser(FastHttpUser):
    """One closed-loop user: a chat completion, then wait out the pacing."""

    wait_time = constant_pacing(PACING_S)
    host = "http://127.0.0.1:8800"

    @task
    def chat(self) -> None:
        options = self.environment.parsed_options
        stream = bool(getattr(options, "stream", False))
        body = chat_body(None, stream, int(getattr(options, "max_tokens", 8)))
        headers = {"Content-Type": "application/json"}
        with self.client.post(
            "/v1/chat/completions", data=body.decode(), headers=headers, catch_response=True
        ) as answer:
            if answer.status_code != 200:
                answer.failure(f"HTTP {answer.status_code}")


class ScenarioShape(LoadTestShape):
    """Users = the scenario's rate at this (scaled) time x the pacing; ends with the scenario."""

    scenario: Scenario | None = None

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options if self.runner is not None else None
        if options is None or not options.scenario:
            raise SystemExit("orchsim locustfile_closed: give a scenario (--scenario PATH or ORCHSIM_SCENARIO)")
        if self.scenario is None:
            self.scenario = load_scenario(options.scenario)
        scale = float(options.time_scale)
        sim_s = self.get_run_time() * scale
        if sim_s >= self.scenario.duration:
            return None
        real_rate_rps = float(rate_at(self.scenario.workload, np.array([sim_s]))[0]) * scale
        users = max(1, math.ceil(real_rate_rps * PACING_S))
        return users, float(users)
