"""Every call a service makes is a CLIENT span named for what it calls, as the stable HTTP
conventions say: `{method} {url.template}` (`POST /sessions/{session_id}/segments`), with
`url.template` and the peer's `server.address`. The clients only pass the route template
along with the request (services/common/downstream.py); the project distro's httpx hook
names the span (services/telemetry/distro.py). Checked through the real SDK into the
in-memory exporter, with the hook the distro hands the httpx instrumentation, for every
method of every client, against the routes the callee's app really declares."""

from __future__ import annotations

import asyncio
import inspect
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.routing import APIRoute
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.trace import SpanKind

from services.common.downstream import Downstream
from services.common.errors import DownstreamError
from services.feedback.api import app as feedback_app
from services.feedback.client import FeedbackClient
from services.session.api import app as session_app
from services.session.client import SessionClient
from services.session.models import (
    HapticCue,
    Mode,
    NewSegment,
    NewSession,
    Segment,
    Session,
    SessionStatus,
    SessionTranscript,
)
from services.telemetry.distro import INSTRUMENT_KWARGS

SID, SEG = "a" * 32, "b" * 32
SEGMENT = NewSegment(text="", duration_ms=4000, words_per_minute=130, volume_db=62,
                     pitch_hz=140, filler_words=0)
STORED = Segment(**SEGMENT.model_dump(), segment_id=SEG, session_id=SID, seq=1,
                 created_at=datetime.now(UTC))
TRANSCRIPT = SessionTranscript(
    session=Session(session_id=SID, user_id="demo", mode=Mode.presentation,
                    status=SessionStatus.ended, started_at=datetime.now(UTC)),
    segments=[STORED])

# client method -> (how the test calls it, the span name it must make, the path it sends)
CALLS = {
    "SessionClient.create_session": (
        lambda c: c.create_session(NewSession(user_id="demo", mode=Mode.presentation)),
        "POST /sessions", "/sessions"),
    "SessionClient.get_session": (
        lambda c: c.get_session(SID), "GET /sessions/{session_id}", f"/sessions/{SID}"),
    "SessionClient.add_segment": (
        lambda c: c.add_segment(SID, SEGMENT),
        "POST /sessions/{session_id}/segments", f"/sessions/{SID}/segments"),
    "SessionClient.history": (
        lambda c: c.history(SID, 5, before=SEG),
        "GET /sessions/{session_id}/history", f"/sessions/{SID}/history"),
    "SessionClient.set_feedback": (
        lambda c: c.set_feedback(SID, SEG, HapticCue(pattern="slow_down", intensity=1,
                                                     reason="fast")),
        "PUT /sessions/{session_id}/segments/{segment_id}/feedback",
        f"/sessions/{SID}/segments/{SEG}/feedback"),
    "SessionClient.end": (
        lambda c: c.end(SID), "POST /sessions/{session_id}/end", f"/sessions/{SID}/end"),
    "FeedbackClient.evaluate": (
        lambda c: c.evaluate(SID, SEG), "POST /evaluate", "/evaluate"),
    "FeedbackClient.report": (lambda c: c.report(TRANSCRIPT), "POST /report", "/report"),
    "FeedbackClient.tip": (
        lambda c: c.tip(SID), "GET /sessions/{session_id}/tip", f"/sessions/{SID}/tip"),
}
CLIENTS = {SessionClient: ("session", session_app), FeedbackClient: ("feedback", feedback_app)}


def client_methods() -> list[str]:
    return [f"{cls.__name__}.{name}" for cls in CLIENTS
            for name, member in inspect.getmembers(cls, inspect.iscoroutinefunction)
            if not name.startswith("_")]


def test_every_entry_is_a_client_method() -> None:
    assert sorted(CALLS) == sorted(client_methods())


def routes(app) -> set[str]:
    return {f"{method} {route.path}" for route in app.routes if isinstance(route, APIRoute)
            for method in route.methods}


@pytest.mark.parametrize("method", client_methods())
def test_a_client_call_is_a_span_named_for_its_route(spans, method: str) -> None:
    assert method in CALLS, f"{method}: a new client method; add it to CALLS"
    call, expected_name, expected_path = CALLS[method]
    cls = next(c for c in CLIENTS if c.__name__ == method.split(".")[0])
    peer, app = CLIENTS[cls]
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "x"}})

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
            HTTPXClientInstrumentor.instrument_client(
                http, request_hook=INSTRUMENT_KWARGS["httpx"]["async_request_hook"])
            with pytest.raises(DownstreamError):
                await call(cls(Downstream(peer, f"http://{peer}:8001", http, 1.0)))

    asyncio.run(run())
    (span,) = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT]
    template = expected_name.split(" ", 1)[1]
    assert span.name == expected_name
    assert span.attributes["url.template"] == template
    assert span.attributes["server.address"] == peer
    assert span.attributes["server.port"] == 8001
    # The name is true: the callee declares that route, and the request went to it.
    assert expected_name in routes(app), sorted(routes(app))
    assert [r.url.path for r in sent] == [expected_path]


def test_path_values_are_escaped_into_one_segment() -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(404, json={"error": {"message": "x"}})

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
            with pytest.raises(DownstreamError):
                await SessionClient(Downstream("session", "http://session", http, 1.0)) \
                    .get_session("../admin?x=1")

    asyncio.run(run())
    assert [r.url.raw_path for r in sent] == [b"/sessions/..%2Fadmin%3Fx%3D1"]
