"""session service HTTP API (port 8001). Internal: only the gateway and feedback call it.

Run: opentelemetry-instrument uvicorn services.session.api:app --port 8001
"""

import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam

from services import scenarios
from services.common.app import create_service_app
from services.common.errors import ServiceError
from services.scenarios.admin import ScenarioSwitch, install_admin
from services.session.models import (
    SESSION_ID_PATTERN,
    Feedback,
    NewSegment,
    NewSession,
    Segment,
    Session,
    SessionHistory,
    SessionTranscript,
    SessionWithCounts,
)
from services.session.store import SessionStore

SessionId = Annotated[str, PathParam(pattern=SESSION_ID_PATTERN)]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    store = SessionStore(Path(os.environ.get("SESSION_DB_PATH", "var/data/session.db")))
    await store.init()
    app.state.store = store
    yield


class InjectedFailure(ServiceError):
    """A failure planted on purpose by a scenario (error_injection, retry_storm)."""

    status_code = 500
    code = "injected_failure"


class InjectedUnavailable(InjectedFailure):
    status_code = 503


async def on_scenario_switch(name: str, switch: ScenarioSwitch) -> None:
    if name == "slow_query" and switch.enabled:
        rows = int(scenarios.get("slow_query").param("seed_rows"))
        await app.state.store.seed(rows)


app = create_service_app("session", "Sessions and speech segments (SQLite).", lifespan)
install_admin(app, on_scenario_switch)


def _store(request: Request) -> SessionStore:
    return request.app.state.store


@app.post("/sessions", status_code=201, response_model=Session)
async def create_session(body: NewSession, request: Request) -> Session:
    return await _store(request).create_session(body.user_id, body.mode)


@app.get("/sessions/{session_id}", response_model=SessionWithCounts)
async def get_session(session_id: SessionId, request: Request) -> SessionWithCounts:
    return await _store(request).get_session(session_id)


@app.post("/sessions/{session_id}/segments", status_code=201, response_model=Segment)
async def add_segment(session_id: SessionId, body: NewSegment, request: Request) -> Segment:
    injected = scenarios.get("error_injection")
    if injected.enabled and random.random() < injected.param("rate"):
        scenarios.mark("error_injection")
        raise InjectedFailure("injected failure (scenario error_injection): segment not stored")
    return await _store(request).add_segment(session_id, body)


@app.get("/sessions/{session_id}/history", response_model=SessionHistory)
async def history(
    session_id: SessionId,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> SessionHistory:
    flaky = scenarios.get("retry_storm")
    # Flaky while the scenario is on, or whenever a failure_rate is set explicitly (that
    # is how the fixed retry policy is shown under the same flakiness).
    if (flaky.enabled or "failure_rate" in flaky.params) and (
        random.random() < flaky.param("failure_rate")
    ):
        scenarios.mark("retry_storm")
        raise InjectedUnavailable("injected flakiness (scenario retry_storm): try again")
    scan = scenarios.is_on("slow_query")
    if scan:
        scenarios.mark("slow_query")
    return await _store(request).history(session_id, limit, scan=scan)


@app.put("/sessions/{session_id}/segments/{segment_id}/feedback", response_model=Segment)
async def set_feedback(
    session_id: SessionId,
    segment_id: Annotated[str, PathParam(pattern=SESSION_ID_PATTERN)],
    body: Feedback,
    request: Request,
) -> Segment:
    return await _store(request).set_feedback(session_id, segment_id, body)


@app.post("/sessions/{session_id}/end", response_model=SessionTranscript)
async def end_session(session_id: SessionId, request: Request) -> SessionTranscript:
    return await _store(request).end(session_id)
