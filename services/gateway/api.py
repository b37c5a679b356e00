"""gateway HTTP API (port 8000): the public HaptiTalk API.

Run: opentelemetry-instrument uvicorn services.gateway.api:app --port 8000

Every response carries `X-Trace-Id`; errors use the shared JSON shape (services/common/
errors.py): 404 for an unknown session, 422 naming the invalid field, 503 naming the
service that is down or too slow.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Path, Request

from services.common.app import create_service_app
from services.common.downstream import Downstream, new_http_client, timeout_from_env
from services.feedback.client import FeedbackClient
from services.gateway.coaching import Coaching
from services.gateway.models import (
    NewSegment,
    NewSession,
    Report,
    SegmentResult,
    Session,
    SessionView,
)
from services.scenarios.admin import ScenarioSwitch, install_admin
from services.session.client import SessionClient
from services.session.models import SESSION_ID_PATTERN

# Budget for one downstream call. Longer than feedback's own budget for its call to
# session (1.5 s), so the innermost failing service is the one named in the 503.
DEFAULT_TIMEOUT_S = 3.0

ADMIN_TIMEOUT_S = 60.0

SessionId = Annotated[str, Path(pattern=SESSION_ID_PATTERN, description="32 hex characters")]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    timeout = timeout_from_env(DEFAULT_TIMEOUT_S)
    async with new_http_client(timeout) as http:
        session = Downstream(
            "session", os.environ.get("SESSION_URL", "http://127.0.0.1:8001"), http, timeout)
        feedback = Downstream(
            "feedback", os.environ.get("FEEDBACK_URL", "http://127.0.0.1:8002"), http, timeout)
        sessions = SessionClient(session)
        app.state.internal = (session, feedback)
        app.state.sessions = sessions
        app.state.coaching = Coaching(sessions, FeedbackClient(feedback))
        yield


async def forward_scenario(name: str, switch: ScenarioSwitch) -> None:
    """`make scenario` talks to the gateway only; the other services learn it from here."""
    for downstream in app.state.internal:
        # Generous budget: switching slow_query on seeds ~200 000 rows in session first.
        await downstream.call("PUT", f"/admin/scenarios/{name}", json=switch.model_dump(),
                              timeout_s=ADMIN_TIMEOUT_S)


app = create_service_app(
    "gateway",
    "HaptiTalk public API: live conversation coaching with haptic feedback.",
    lifespan)
install_admin(app, forward_scenario)


@app.post("/api/sessions", status_code=201, response_model=Session)
async def start_session(body: NewSession, request: Request) -> Session:
    return await request.app.state.sessions.create_session(body)


@app.post("/api/sessions/{session_id}/segments", response_model=SegmentResult)
async def submit_segment(
    session_id: SessionId, body: NewSegment, request: Request
) -> SegmentResult:
    return await request.app.state.coaching.submit_segment(session_id, body)


@app.get("/api/sessions/{session_id}", response_model=SessionView)
async def get_session(session_id: SessionId, request: Request) -> SessionView:
    return await request.app.state.coaching.view(session_id)


@app.post("/api/sessions/{session_id}/end", response_model=Report)
async def end_session(session_id: SessionId, request: Request) -> Report:
    return await request.app.state.coaching.end_session(session_id)
