"""session service HTTP API (SESSION_PORT in .env). Internal: only the gateway and feedback
call it.

Run: opentelemetry-instrument uvicorn services.session.api:app --port $SESSION_PORT
"""

import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam

from services import scenarios
from services.common.app import create_service_app, part, wire
from services.common.errors import ServiceError
from services.scenarios.admin import install_admin
from services.session.models import (
    SESSION_ID_PATTERN,
    HapticCue,
    NewSegment,
    NewSession,
    Segment,
    Session,
    SessionHistory,
    SessionTranscript,
    SessionWithCounts,
)
from services.session.postgres import PostgresSessionStore
from services.session.store import SessionStore

SessionId = Annotated[str, PathParam(pattern=SESSION_ID_PATTERN)]
SegmentId = Annotated[str, PathParam(pattern=SESSION_ID_PATTERN)]
Store = Annotated[SessionStore | PostgresSessionStore, Depends(part("store"))]


def make_store() -> SessionStore | PostgresSessionStore:
    """SESSION_DB picks the store: sqlite (default: one file, one process) or postgres
    (what the Helm chart runs: replicas share it)."""
    kind = os.environ.get("SESSION_DB", "sqlite")
    if kind == "sqlite":
        return SessionStore(Path(os.environ.get("SESSION_DB_PATH", "var/data/session.db")))
    if kind == "postgres":
        return PostgresSessionStore(os.environ.get("SESSION_DATABASE_URL", ""))
    raise SystemExit(f"SESSION_DB={kind!r}: use sqlite or postgres")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    store = make_store()
    await store.init()
    wire(app, store=store)
    yield
    await store.close()


class InjectedFailure(ServiceError):
    """A failure planted on purpose by a scenario (error_injection, flaky_history)."""

    status_code = 500
    code = "injected_failure"


class InjectedUnavailable(InjectedFailure):
    status_code = 503


async def on_scenario_switch(request: Request, scenario: scenarios.Scenario) -> None:
    if scenario.name == "slow_query" and scenario.enabled:
        store: SessionStore | PostgresSessionStore = part("store")(request)
        await store.seed(int(scenario.param("seed_rows")))


app = create_service_app("session", "Sessions and speech segments (SQLite or PostgreSQL).",
                         lifespan)
install_admin(app, "session", on_switch=on_scenario_switch)


@app.post("/sessions", status_code=201, response_model=Session)
async def create_session(body: NewSession, store: Store) -> Session:
    return await store.create_session(body.user_id, body.mode)


@app.get("/sessions/{session_id}", response_model=SessionWithCounts)
async def get_session(session_id: SessionId, store: Store) -> SessionWithCounts:
    return await store.get_session(session_id)


@app.post("/sessions/{session_id}/segments", status_code=201, response_model=Segment)
async def add_segment(session_id: SessionId, body: NewSegment, store: Store) -> Segment:
    injected = scenarios.get("error_injection")
    if injected.enabled and random.random() < injected.param("rate"):
        scenarios.mark("error_injection")
        raise InjectedFailure("injected failure (scenario error_injection): segment not stored")
    return await store.add_segment(session_id, body)


@app.get("/sessions/{session_id}/history", response_model=SessionHistory)
async def history(
    session_id: SessionId,
    store: Store,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    before: Annotated[str | None, Query(pattern=SESSION_ID_PATTERN,
                                        description="a segment id: that segment, and the "
                                                    "`limit` segments before it")] = None,
) -> SessionHistory:
    flaky = scenarios.get("flaky_history")
    if flaky.enabled and random.random() < flaky.param("failure_rate"):
        scenarios.mark("flaky_history")
        raise InjectedUnavailable("injected flakiness (scenario flaky_history): try again")
    scan = scenarios.is_on("slow_query")
    if scan:
        scenarios.mark("slow_query")
    return await store.history(session_id, limit, scan=scan, before=before)


@app.put("/sessions/{session_id}/segments/{segment_id}/feedback", response_model=Segment)
async def set_feedback(
    session_id: SessionId, segment_id: SegmentId, body: HapticCue, store: Store
) -> Segment:
    return await store.set_feedback(session_id, segment_id, body)


@app.post("/sessions/{session_id}/end", response_model=SessionTranscript)
async def end_session(session_id: SessionId, store: Store) -> SessionTranscript:
    return await store.end(session_id)
