"""The benchmarks' load profile (loopback only; each run is bounded by Locust's --run-time).

- `Segments` (make bench): the three-service call (a segment) in a closed loop, or at
  BENCH_RATE_PER_USER calls per second. FastHttpUser on purpose: it is the cheapest Locust
  client (the load generator shares the machine's two cores with the services), and the
  benchmark measures the services, so the load generator itself must not trace.
- `ScenarioLoad` (make bench-scenario): every call the scenarios touch, back to back.

Each user has its own session.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from locust import FastHttpUser, HttpUser, constant, constant_throughput, events, task

from stackctl.sample import CALM_SEGMENT as SEGMENT

RATE_PER_USER = float(os.environ.get("BENCH_RATE_PER_USER", "0"))  # 0: as fast as possible
# Trace ids per request name ("segment", "start"...): completeness counts every span of
# the run, the session starts' included.
trace_ids: dict[str, list[str]] = {}


@events.request.add_listener
def keep_trace_id(name, response=None, exception=None, **_kw) -> None:
    if response is not None and exception is None:
        trace_id = response.headers.get("x-trace-id")
        if trace_id:
            trace_ids.setdefault(name, []).append(trace_id)


@events.quitting.add_listener
def write_trace_ids(environment, **_kw) -> None:
    out = os.environ.get("BENCH_TRACE_IDS")
    if out:
        Path(out).write_text(json.dumps(trace_ids))


class Segments(FastHttpUser):
    wait_time = constant_throughput(RATE_PER_USER) if RATE_PER_USER else constant(0)

    def on_start(self) -> None:
        response = self.client.post("/api/sessions", name="start",
                                    json={"user_id": "bench", "mode": "presentation"})
        self.sid = response.json()["session_id"]

    @task
    def segment(self) -> None:
        body = dict(SEGMENT, words_per_minute=random.choice([120.0, 140.0, 150.0]))
        self.client.post(f"/api/sessions/{self.sid}/segments", json=body, name="segment")


class ScenarioLoad(HttpUser):
    """No think time: a short session, its segments, its view, its report."""

    wait_time = constant(0)

    @task
    def short_session_flat_out(self) -> None:
        response = self.client.post("/api/sessions", name="/api/sessions",
                                    json={"user_id": "bench", "mode": "presentation"})
        if response.status_code != 201:
            return
        sid = response.json()["session_id"]
        for _ in range(6):
            body = dict(SEGMENT, words_per_minute=random.choice([120.0, 140.0, 190.0]))
            self.client.post(f"/api/sessions/{sid}/segments", json=body,
                             name="/api/sessions/[id]/segments")
        self.client.get(f"/api/sessions/{sid}", name="/api/sessions/[id]")
        self.client.post(f"/api/sessions/{sid}/end", name="/api/sessions/[id]/end")
