"""gateway HTTP API (GATEWAY_PORT in .env): the public HaptiTalk API.

Run: opentelemetry-instrument uvicorn services.gateway.api:app --port $GATEWAY_PORT

Every response carries `X-Trace-Id`; errors use the shared JSON shape (services/common/
errors.py): 404 for an unknown session, 422 naming the invalid field, 503 naming the
service that is down or too slow.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Path

from services.common.app import create_service_app, downstreams, part, wire
from services.common.downstream import Downstream, connect
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
from services.scenarios.admin import install_admin
from services.session.client import SessionClient
from services.session.models import SESSION_ID_PATTERN

# Budget for one downstream call. Longer than each of feedback's reads from session
# (1.5 s): a session failing fast under feedback is quoted in the 503's message; a hung
# one outlasts feedback's retry, and the 503 names feedback (docs/reliability.md).
DEFAULT_TIMEOUT_S = 3.0

SessionId = Annotated[str, Path(pattern=SESSION_ID_PATTERN, description="32 hex characters")]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with connect(DEFAULT_TIMEOUT_S, "session", "feedback") as reach:
        wire(app, **reach)
        yield


def coaching(
    session: Annotated[Downstream, Depends(part("session"))],
    feedback: Annotated[Downstream, Depends(part("feedback"))],
) -> Coaching:
    return Coaching(SessionClient(session), FeedbackClient(feedback))


CoachingFlow = Annotated[Coaching, Depends(coaching)]

app = create_service_app(
    "gateway",
    "HaptiTalk public API: live conversation coaching with haptic feedback.",
    lifespan,
)
# `make scenario` talks to the gateway only; it routes each switch to its owner.
install_admin(app, "gateway", reach=downstreams)


@app.post("/api/sessions", status_code=201, response_model=Session)
async def start_session(body: NewSession, flow: CoachingFlow) -> Session:
    return await flow.sessions.create_session(body)


@app.post("/api/sessions/{session_id}/segments", response_model=SegmentResult)
async def submit_segment(
    session_id: SessionId, body: NewSegment, flow: CoachingFlow
) -> SegmentResult:
    return await flow.submit_segment(session_id, body)


@app.get("/api/sessions/{session_id}", response_model=SessionView)
async def get_session(session_id: SessionId, flow: CoachingFlow) -> SessionView:
    return await flow.view(session_id)


@app.post("/api/sessions/{session_id}/end", response_model=Report)
async def end_session(session_id: SessionId, flow: CoachingFlow) -> Report:
    return await flow.end_session(session_id)
