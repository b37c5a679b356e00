"""session service HTTP API (SESSION_PORT in .env). Internal: only the gateway and feedback
call it.

Run: opentelemetry-instrument uvicorn services.session.api:app --port $SESSION_PORT
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Query
from fastapi import Path as PathParam

from services import scenarios
from services.common.app import create_service_app, part, wire
from services.scenarios.admin import install_admin
from services.scenarios.failures import error_injection, flaky_history
from services.scenarios.slow_query import seed
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
from services.session.store import SessionStore

SessionId = Annotated[str, PathParam(pattern=SESSION_ID_PATTERN)]
SegmentId = Annotated[str, PathParam(pattern=SESSION_ID_PATTERN)]
Store = Annotated[SessionStore, Depends(part("store"))]


def make_store() -> SessionStore:
    """SESSION_DB picks the store (store.py): sqlite (default: one file, one process) or
    postgres (what the Helm chart runs: replicas share it)."""
    kind = os.environ.get("SESSION_DB", "sqlite")
    # Each store imported only when chosen: a SQLite session has no use for psycopg's
    # pool (under opentelemetry-instrument, psycopg itself is imported by its
    # instrumentation all the same, in every service: docs/benchmarks.md section 4).
    if kind == "sqlite":
        from services.session.sqlite import SqliteSessionStore
        return SqliteSessionStore(Path(os.environ.get("SESSION_DB_PATH",
                                                      "var/data/session.db")))
    if kind == "postgres":
        from services.session.postgres import PostgresSessionStore
        return PostgresSessionStore(os.environ.get("SESSION_DATABASE_URL", ""))
    raise SystemExit(f"SESSION_DB={kind!r}: use sqlite or postgres")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    store = make_store()
    await store.init()
    wire(app, store=store)
    yield
    await store.close()


app = create_service_app("session", "Sessions and speech segments (SQLite or PostgreSQL).",
                         lifespan)
install_admin(app, "session", on_switch=seed)


@app.post("/sessions", status_code=201, response_model=Session)
async def create_session(body: NewSession, store: Store) -> Session:
    return await store.create_session(body.user_id, body.mode)


@app.get("/sessions/{session_id}", response_model=SessionWithCounts)
async def get_session(session_id: SessionId, store: Store) -> SessionWithCounts:
    return await store.get_session(session_id)


@app.post("/sessions/{session_id}/segments", status_code=201, response_model=Segment)
async def add_segment(session_id: SessionId, body: NewSegment, store: Store) -> Segment:
    if scenarios.is_on("error_injection"):
        error_injection()
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
    if scenarios.is_on("flaky_history"):
        flaky_history()
    if scenarios.is_on("slow_query"):
        scenarios.mark("slow_query")
        return await store.history(session_id, limit, scan=True, before=before)
    return await store.history(session_id, limit, before=before)


@app.put("/sessions/{session_id}/segments/{segment_id}/feedback", response_model=Segment)
async def set_feedback(
    session_id: SessionId, segment_id: SegmentId, body: HapticCue, store: Store
) -> Segment:
    return await store.set_feedback(session_id, segment_id, body)


@app.post("/sessions/{session_id}/end", response_model=SessionTranscript)
async def end_session(session_id: SessionId, store: Store) -> SessionTranscript:
    return await store.end(session_id)
