"""HaptiTalk traffic for Locust: people in coaching sessions (some wearing the watch),
and API consumers.

    make load                 # headless, bounded, summary + links to the slowest traces
                              # (= locust ... CoachingSession ApiConsumer WatchWearer)
    make load-ui              # Locust's web UI (LOCUST_WEB_PORT in .env)

Run with `locust --otel` (the Makefile does): Locust's own HTTP request span becomes the
root of each trace and its `traceparent` header carries the trace into the gateway. Each
journey also sets W3C baggage `session.id` and `synthetic_request=true`; the services copy
both onto their spans, so Jaeger's tag search `synthetic_request=true` finds load traffic
and `session.id=<id>` one user's whole session across every trace.

HttpUser, not FastHttpUser: Locust's OpenTelemetry support instruments `requests`, which
HttpUser uses; FastHttpUser's client sends no `traceparent`.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import gevent
from locust import HttpUser, between, events, task
from opentelemetry import baggage, context

from stackctl.settings import endpoints

# The watch is not behind the gateway (`--host`): its stream is on its own port
# (WATCH_PORT in .env, WATCH_URL for a stack elsewhere).
WATCH_URL = endpoints().watch

# --- speakers: each session gets one style, so different feedback rules fire -----------


@dataclass(frozen=True)
class Style:
    name: str
    wpm: tuple[float, float]
    volume_db: tuple[float, float]
    pitch_hz: tuple[float, float]
    fillers_per_segment: tuple[int, int]


STYLES = [
    Style("steady", (115, 150), (58, 70), (110, 190), (0, 1)),
    Style("rushed", (165, 230), (60, 75), (120, 200), (0, 2)),
    Style("hesitant", (70, 105), (45, 60), (100, 180), (2, 6)),
    Style("monotone", (120, 145), (55, 65), (148, 152), (0, 1)),
    Style("loud", (130, 160), (78, 95), (130, 220), (0, 1)),
]
RUSHED = STYLES[1]
MODES = ["presentation", "interview", "dating"]
WORDS = "so um I think that we basically should like move the launch to next quarter".split()


def segment(style: Style) -> dict:
    duration_ms = random.randint(2500, 6000)
    words = int(style.wpm[1] * duration_ms / 60_000)
    return {
        "text": " ".join(random.choices(WORDS, k=max(1, words))),
        "duration_ms": duration_ms,
        "words_per_minute": round(random.uniform(*style.wpm), 1),
        "volume_db": round(random.uniform(*style.volume_db), 1),
        "pitch_hz": round(random.uniform(*style.pitch_hz), 1),
        "filler_words": random.randint(*style.fillers_per_segment),
    }


@contextmanager
def journey_baggage(**entries: str) -> Iterator[None]:
    """W3C baggage for every request made inside (propagated with `traceparent`)."""
    ctx = context.get_current()
    for key, value in entries.items():
        ctx = baggage.set_baggage(key, value, ctx)
    token = context.attach(ctx)
    try:
        yield
    finally:
        context.detach(token)


# --- the slowest and the failed requests, with their trace ids ------------------------

KEEP = 5
slowest: list[dict] = []
failed: list[dict] = []


@events.request.add_listener
def remember_trace(name, response_time, exception, response=None, **_kwargs) -> None:
    trace_id = response.headers.get("x-trace-id") if response is not None else None
    if not trace_id:
        return
    entry = {"name": name, "ms": round(response_time or 0, 1), "trace_id": trace_id,
             "status": getattr(response, "status_code", None)}
    if exception is not None and len(failed) < KEEP:
        failed.append({**entry, "error": str(exception)[:160]})
    slowest.append(entry)
    slowest.sort(key=lambda e: e["ms"], reverse=True)
    del slowest[KEEP:]


@events.quitting.add_listener
def write_traces(environment, **_kwargs) -> None:
    out = os.environ.get("LOAD_TRACES_FILE")
    if out:
        Path(out).write_text(json.dumps({"slowest": slowest, "failed": failed}, indent=2))


# --- journeys -------------------------------------------------------------------------


class CoachingSession(HttpUser):
    """Someone rehearsing a talk: start, a stream of segments, a glance, the report."""

    weight = 3
    wait_time = between(1, 3)  # between sessions

    @task
    def rehearse(self) -> None:
        style = random.choice(STYLES)
        with journey_baggage(synthetic_request="true"):
            response = self.client.post(
                "/api/sessions", name="/api/sessions",
                json={"user_id": f"load-{style.name}-{random.randint(1, 500)}",
                      "mode": random.choice(MODES)})
        if response.status_code != 201:
            return
        sid = response.json()["session_id"]
        with journey_baggage(synthetic_request="true", **{"session.id": sid}):
            for i in range(random.randint(6, 14)):
                self.client.post(f"/api/sessions/{sid}/segments", json=segment(style),
                                 name="/api/sessions/[id]/segments")
                if i % 5 == 4:
                    self.client.get(f"/api/sessions/{sid}", name="/api/sessions/[id]")
                # The phone sends a segment every few seconds; compressed for load.
                self.wait_between_segments()
            self.client.post(f"/api/sessions/{sid}/end", name="/api/sessions/[id]/end")

    def wait_between_segments(self) -> None:
        gevent.sleep(random.uniform(0.2, 0.8))


class ApiConsumer(HttpUser):
    """A dashboard polling sessions: mostly reads, some short sessions."""

    weight = 1
    wait_time = between(0.5, 1.5)
    known: list[str] = []

    @task(3)
    def look_at_a_session(self) -> None:
        if not self.known:
            self.short_session()
            return
        sid = random.choice(self.known)
        with journey_baggage(synthetic_request="true", **{"session.id": sid}):
            self.client.get(f"/api/sessions/{sid}", name="/api/sessions/[id]")

    @task(1)
    def short_session(self) -> None:
        with journey_baggage(synthetic_request="true"):
            response = self.client.post("/api/sessions", name="/api/sessions",
                                        json={"user_id": "dashboard", "mode": "interview"})
        if response.status_code != 201:
            return
        sid = response.json()["session_id"]
        with journey_baggage(synthetic_request="true", **{"session.id": sid}):
            for _ in range(2):
                self.client.post(f"/api/sessions/{sid}/segments",
                                 json=segment(random.choice(STYLES)),
                                 name="/api/sessions/[id]/segments")
        self.known.append(sid)
        del self.known[:-50]


# --- the watch: cues over Server-Sent Events -----------------------------------------

# The watch sends a keep-alive comment every 15 s (services/watch/api.py): 20 s of silence
# is a stuck stream. A session below lasts ~10 s; past STREAM_MAX_S the reader is stopped,
# so every journey ends and a Locust run still stops by itself.
READ_TIMEOUT_S = 20.0
STREAM_MAX_S = 45.0


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, dict]]:
    """(event, data) for each Server-Sent Event in a stream's lines (comments skipped)."""
    kind, data = "message", ""
    for line in lines:
        if not line:  # a blank line ends an event
            if data:
                yield kind, json.loads(data)
            kind, data = "message", ""
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()


class WatchWearer(HttpUser):
    """Someone rehearsing with the watch on: the phone sends segments, and each cue
    reaches the wrist through RabbitMQ and the watch's stream (GET /watch/{id}/cues).

    The summary row `SSE cue at the watch` times each cue from the segment call's answer
    to its event on the stream: the broker hop, as the user feels it (slow_consumer
    shows there). The stream ends with the session's summary."""

    weight = 1
    wait_time = between(1, 3)

    @task
    def rehearse_with_the_watch(self) -> None:
        with journey_baggage(synthetic_request="true"):
            response = self.client.post("/api/sessions", name="/api/sessions",
                                        json={"user_id": "load-watch", "mode": "presentation"})
        if response.status_code != 201:
            return
        sid = response.json()["session_id"]
        sent: dict[str, float] = {}  # segment id -> when its call answered with a cue
        with journey_baggage(synthetic_request="true", **{"session.id": sid}):
            reader = gevent.spawn(self.follow, sid, sent)
            try:
                for _ in range(random.randint(4, 8)):
                    answer = self.client.post(f"/api/sessions/{sid}/segments",
                                              json=segment(RUSHED),  # earns buzzes
                                              name="/api/sessions/[id]/segments")
                    if answer.status_code == 200 and answer.json().get("feedback"):
                        sent[answer.json()["segment_id"]] = time.monotonic()
                    gevent.sleep(random.uniform(0.2, 0.8))
                self.client.post(f"/api/sessions/{sid}/end", name="/api/sessions/[id]/end")
                reader.join(timeout=STREAM_MAX_S)
            finally:
                reader.kill(block=False)  # also when Locust stops this user mid-journey

    def follow(self, sid: str, sent: dict[str, float]) -> None:
        with self.client.get(f"{WATCH_URL}/watch/{sid}/cues", name="/watch/[id]/cues",
                             stream=True, timeout=(3.0, READ_TIMEOUT_S),
                             catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:160]}")
                return
            for kind, data in sse_events(response.iter_lines(decode_unicode=True)):
                if kind == "summary":
                    response.success()
                    return
                made = sent.get(data.get("segment_id", ""))
                if kind == "cue" and made is not None:
                    # Cues can pass the summary (the watch buzzes up to 32 at once): only
                    # the ones that arrive are timed; tests/e2e/test_broker.py counts losses.
                    self.environment.events.request.fire(
                        request_type="SSE", name="cue at the watch",
                        response_time=(time.monotonic() - made) * 1000,
                        response_length=0, exception=None, context={})
            response.failure("the stream ended before the session's summary")
