"""PostgreSQL storage for sessions and segments (SESSION_DB=postgres; the Helm chart's
only store): the SessionStore of store.py, as its sibling sqlite.py is, on the tables of
schema.py, so api.py does not care which one runs.

Why it looks the way it does:
- psycopg 3, async, traced by opentelemetry-instrumentation-psycopg: every statement is a
  CLIENT span under the request's server span, with db.system.name=postgresql and the SQL
  text (`%s` placeholders: the user's speech never lands in a span);
- a connection pool (psycopg_pool, from the psycopg project): a connection is opened once,
  not per request; the pool waits for the database at start-up and names it when it is
  not there;
- where to connect comes from libpq's own settings: SESSION_DATABASE_URL (a libpq URI, as
  compose and the local runner set it) or, when that is empty, the PG* environment
  variables (PGHOST, PGPASSWORD...: the Helm chart sets them, the password from a Secret).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from services.common.errors import Conflict, DependencyUnavailable, NotFound
from services.session.models import (
    HapticCue,
    Mode,
    NewSegment,
    Segment,
    Session,
    SessionHistory,
    SessionStatus,
    SessionTranscript,
    SessionWithCounts,
)
from services.session.schema import SCHEMA, SEGMENT_COLUMNS, row_to_segment, row_to_session
from services.session.schema import now as _now

# How long start-up waits for the database before it gives up and says so.
CONNECT_TIMEOUT_S = float(os.environ.get("SESSION_DB_CONNECT_TIMEOUT_S", "30"))


class DatabaseUnavailable(RuntimeError):
    pass


class PostgresSessionStore:
    """The SessionStore of store.py on a PostgreSQL database, through a connection pool."""

    def __init__(self, conninfo: str = "", connect_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        self.conninfo = conninfo
        self.connect_timeout_s = connect_timeout_s
        self.pool = AsyncConnectionPool(
            conninfo, open=False, min_size=1, max_size=10, timeout=10,
            kwargs={"row_factory": dict_row, "connect_timeout": 5},
        )

    async def init(self) -> None:
        try:
            await self.pool.open(wait=True, timeout=self.connect_timeout_s)
        except PoolTimeout as error:
            await self.pool.close()
            raise DatabaseUnavailable(
                f"PostgreSQL did not accept a connection within {self.connect_timeout_s:g} s "
                f"({self._where()}); is it running?") from error
        async with self._cursor() as cur:
            # Two replicas starting together must not both create the tables.
            await cur.execute("SELECT pg_advisory_xact_lock(8001)")
            for statement in SCHEMA:
                await cur.execute(statement)

    @asynccontextmanager
    async def _cursor(self) -> AsyncIterator[psycopg.AsyncCursor]:
        """A cursor in a transaction (committed on success). The database down, or every
        connection busy for `timeout`: a 503 that names PostgreSQL, not a hang."""
        try:
            async with self.pool.connection() as conn, conn.cursor() as cur:
                yield cur
        except (PoolTimeout, psycopg.OperationalError) as error:
            raise DependencyUnavailable("postgresql", str(error).strip() or type(error).__name__) \
                from error

    async def close(self) -> None:
        await self.pool.close()

    def _where(self) -> str:
        if self.conninfo:
            params = psycopg.conninfo.conninfo_to_dict(self.conninfo)
            params.pop("password", None)  # never in a message or a log
            return psycopg.conninfo.make_conninfo(**params)
        env = os.environ
        return f"PGHOST={env.get('PGHOST', 'localhost')} PGPORT={env.get('PGPORT', '5432')}"

    async def _get_session(self, cur: psycopg.AsyncCursor, session_id: str) -> Session:
        await cur.execute("SELECT * FROM sessions WHERE session_id = %s", (session_id,))
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"session {session_id} not found")
        return row_to_session(row)

    async def create_session(self, user_id: str, mode: Mode) -> Session:
        session_id = uuid.uuid4().hex
        async with self._cursor() as cur:
            await cur.execute(
                "INSERT INTO sessions (session_id, user_id, mode, status, started_at) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING *",
                (session_id, user_id, mode.value, SessionStatus.active.value, _now()),
            )
            return row_to_session(await cur.fetchone())

    async def get_session(self, session_id: str) -> SessionWithCounts:
        async with self._cursor() as cur:
            session = await self._get_session(cur, session_id)
            await cur.execute(
                "SELECT COUNT(*) AS segments, COUNT(feedback_pattern) AS feedback "
                "FROM segments WHERE session_id = %s",
                (session_id,),
            )
            counts: dict[str, Any] = await cur.fetchone()
            return SessionWithCounts(**session.model_dump(), segment_count=counts["segments"],
                                     feedback_count=counts["feedback"])

    async def add_segment(self, session_id: str, segment: NewSegment) -> Segment:
        async with self._cursor() as cur:
            # FOR UPDATE locks the session row: two concurrent segments of one session
            # cannot both read the same MAX(seq).
            await cur.execute("SELECT * FROM sessions WHERE session_id = %s FOR UPDATE",
                              (session_id,))
            row = await cur.fetchone()
            if row is None:
                raise NotFound(f"session {session_id} not found")
            if row_to_session(row).status is SessionStatus.ended:
                raise Conflict(f"session {session_id} has ended; no more segments accepted")
            await cur.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM segments WHERE session_id = %s",
                (session_id,),
            )
            seq = (await cur.fetchone())["next"]
            await cur.execute(
                f"INSERT INTO segments ({SEGMENT_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, NULL, NULL) "
                f"RETURNING {SEGMENT_COLUMNS}",
                (
                    uuid.uuid4().hex, session_id, seq, segment.text, segment.duration_ms,
                    segment.words_per_minute, segment.volume_db, segment.pitch_hz,
                    segment.filler_words, _now(),
                ),
            )
            return row_to_segment(await cur.fetchone())

    async def history(self, session_id: str, limit: int, scan: bool = False,
                      before: str | None = None) -> SessionHistory:
        # Planted bottleneck `slow_query`: lower() on the indexed column (a "case-
        # insensitive" lookup of ids that are lowercase anyway) makes PostgreSQL unable to
        # use the (session_id, seq) index, so it reads the whole table. The DB span's
        # statement shows it, and its duration grows with the table.
        where = "lower(session_id) = lower(%s)" if scan else "session_id = %s"
        async with self._cursor() as cur:
            session = await self._get_session(cur, session_id)
            segment = None
            if before is not None:
                await cur.execute(f"SELECT {SEGMENT_COLUMNS} FROM segments "
                                  "WHERE segment_id = %s AND session_id = %s",
                                  (before, session_id))
                row = await cur.fetchone()
                if row is None:
                    raise NotFound(f"segment {before} not found in session {session_id}")
                segment = row_to_segment(row)
            await cur.execute(
                f"SELECT {SEGMENT_COLUMNS} FROM segments WHERE {where} AND seq < %s "
                "ORDER BY seq DESC LIMIT %s",
                (session_id, segment.seq if segment else 2**62, limit),
            )
            recent = [row_to_segment(r) for r in reversed(await cur.fetchall())]
            return SessionHistory(session=session, recent=recent, segment=segment)

    async def set_feedback(self, session_id: str, segment_id: str, fb: HapticCue) -> Segment:
        async with self._cursor() as cur:
            await cur.execute(
                "UPDATE segments SET feedback_pattern = %s, feedback_intensity = %s, "
                "feedback_reason = %s WHERE session_id = %s AND segment_id = %s "
                f"RETURNING {SEGMENT_COLUMNS}",
                (fb.pattern, fb.intensity, fb.reason, session_id, segment_id),
            )
            row = await cur.fetchone()
            if row is None:
                raise NotFound(f"segment {segment_id} of session {session_id} not found")
            return row_to_segment(row)

    async def seed(self, rows: int) -> int:
        """Fill the table with other users' history, so a full scan has work to do."""
        async with self._cursor() as cur:
            await cur.execute("SELECT COUNT(*) AS n FROM segments")
            missing = rows - (await cur.fetchone())["n"]
            if missing <= 0:
                return 0
            now = _now()
            per_session = 500
            sessions = [uuid.uuid4().hex for _ in range(0, missing, per_session)]
            # COPY: one round trip for the whole seed (100k rows in about a second).
            async with cur.copy("COPY sessions (session_id, user_id, mode, status, "
                                "started_at, ended_at) FROM STDIN") as copy:
                for session_id in sessions:
                    await copy.write_row((session_id, "seed", "presentation", "ended", now, now))
            async with cur.copy(f"COPY segments ({SEGMENT_COLUMNS}) FROM STDIN") as copy:
                for n in range(missing):
                    await copy.write_row((
                        uuid.uuid4().hex, sessions[n // per_session], n % per_session + 1, "",
                        5000, 130, 60, 150, 0, now, None, None, None))
            # Fresh statistics, so the planner's choices are the ones a live table gets.
            await cur.execute("ANALYZE segments")
            return missing

    async def end(self, session_id: str) -> SessionTranscript:
        async with self._cursor() as cur:
            # Ending twice is harmless: the first end time is kept.
            await cur.execute(
                "UPDATE sessions SET status = %s, ended_at = COALESCE(ended_at, %s) "
                "WHERE session_id = %s",
                (SessionStatus.ended.value, _now(), session_id),
            )
            session = await self._get_session(cur, session_id)
            await cur.execute(
                f"SELECT {SEGMENT_COLUMNS} FROM segments WHERE session_id = %s ORDER BY seq",
                (session_id,),
            )
            return SessionTranscript(session=session,
                                     segments=[row_to_segment(r) for r in await cur.fetchall()])
