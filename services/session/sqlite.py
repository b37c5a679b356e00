"""SQLite storage for sessions and segments: the default SessionStore (store.py). Its
sibling postgres.py implements the same interface on PostgreSQL (SESSION_DB=postgres);
both create and read the tables of schema.py.

Why it looks the way it does:
- stdlib `sqlite3`, traced by opentelemetry-instrumentation-sqlite3, which wraps
  `sqlite3.connect` and traces `cursor.execute` (not the `Connection.execute` shortcut):
  every statement below goes through a cursor so it appears in Jaeger as a span whose
  `db.query.text` is the SQL text (with `?` placeholders, never the user's speech).
- sqlite3 blocks, so every call runs in a worker thread (`asyncio.to_thread`); the
  trace context travels with it and the DB spans land under the request's server span.
- one connection per worker thread, opened on the thread's first operation and kept:
  a connection may not be used by two threads at once, and opening one per operation
  cost the instrumentation's set-up on every `connect` (a tracer, and with the old
  conventions a meter and two histograms: docs/benchmarks.md). WAL mode lets readers
  run while a write commits.
- one statement per operation where SQL can say it (`RETURNING`, `INSERT ... SELECT`),
  so a trace shows one DB span for one thing done; a second look-up runs only on the
  error path, to say which error it was.
"""

import asyncio
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.common.errors import Conflict, NotFound
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


class SqliteSessionStore:
    """The SessionStore of store.py on one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # check_same_thread=False only so close() can run on the event loop's thread
            # at shutdown; during requests each connection is used by its own thread only.
            conn = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _cursor(self) -> Iterator[sqlite3.Cursor]:
        """One operation: a cursor on this thread's connection, committed at the end, rolled
        back on any error."""
        conn = self._connection()
        cur = conn.cursor()
        try:
            yield cur
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            cur.close()

    def _close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    # -- blocking implementations (run in a worker thread) --------------------------------

    def _init(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._cursor() as cur:
            cur.execute("PRAGMA journal_mode=WAL")
            for statement in SCHEMA:
                cur.execute(statement)

    def _create_session(self, user_id: str, mode: Mode) -> Session:
        session_id = uuid.uuid4().hex
        with self._cursor() as cur:
            cur.execute(
                "INSERT INTO sessions (session_id, user_id, mode, status, started_at) "
                "VALUES (?, ?, ?, ?, ?) RETURNING *",
                (session_id, user_id, mode.value, SessionStatus.active.value, _now()),
            )
            return row_to_session(cur.fetchone())

    def _get_session(self, cur: sqlite3.Cursor, session_id: str) -> Session:
        cur.execute("SELECT * FROM sessions WHERE session_id = ?", (session_id,))
        row = cur.fetchone()
        if row is None:
            raise NotFound(f"session {session_id} not found")
        return row_to_session(row)

    def _session_with_counts(self, session_id: str) -> SessionWithCounts:
        with self._cursor() as cur:
            cur.execute(
                "SELECT *, "
                "(SELECT COUNT(*) FROM segments g WHERE g.session_id = s.session_id) "
                "AS segment_count, "
                "(SELECT COUNT(feedback_pattern) FROM segments g "
                "WHERE g.session_id = s.session_id) AS feedback_count "
                "FROM sessions s WHERE session_id = ?",
                (session_id,),
            )
            row = cur.fetchone()
            if row is None:
                raise NotFound(f"session {session_id} not found")
            return SessionWithCounts(**row_to_session(row).model_dump(),
                                     segment_count=row["segment_count"],
                                     feedback_count=row["feedback_count"])

    def _add_segment(self, session_id: str, segment: NewSegment) -> Segment:
        with self._cursor() as cur:
            # One statement: the next seq is read and the row written under the write lock
            # a writing statement takes before it reads, and the (session_id, seq) unique
            # index refuses a duplicate whatever happens. No row: no such active session.
            cur.execute(
                f"INSERT INTO segments ({SEGMENT_COLUMNS}) "
                "SELECT ?, session_id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM segments "
                "WHERE session_id = ?), ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL "
                "FROM sessions WHERE session_id = ? AND status = ? "
                f"RETURNING {SEGMENT_COLUMNS}",
                (
                    uuid.uuid4().hex, session_id, segment.text, segment.duration_ms,
                    segment.words_per_minute, segment.volume_db, segment.pitch_hz,
                    segment.filler_words, _now(), session_id, SessionStatus.active.value,
                ),
            )
            row = cur.fetchone()
            if row is None:
                self._get_session(cur, session_id)  # NotFound when there is no session
                raise Conflict(f"session {session_id} has ended; no more segments accepted")
            return row_to_segment(row)

    def _history(self, session_id: str, limit: int, scan: bool,
                 before: str | None) -> SessionHistory:
        # Planted bottleneck `slow_query`: NOT INDEXED makes SQLite ignore the
        # (session_id, seq) index and read the whole table. The DB span's db.query.text
        # shows it, and its duration grows with the table.
        table = "segments NOT INDEXED" if scan else "segments"
        with self._cursor() as cur:
            session = self._get_session(cur, session_id)
            segment = None
            if before is not None:
                cur.execute(f"SELECT {SEGMENT_COLUMNS} FROM segments "
                            "WHERE segment_id = ? AND session_id = ?", (before, session_id))
                row = cur.fetchone()
                if row is None:
                    raise NotFound(f"segment {before} not found in session {session_id}")
                segment = row_to_segment(row)
            cur.execute(
                f"SELECT {SEGMENT_COLUMNS} FROM {table} WHERE session_id = ? AND seq < ? "
                "ORDER BY seq DESC LIMIT ?",
                (session_id, segment.seq if segment else 2**62, limit),
            )
            recent = [row_to_segment(r) for r in reversed(cur.fetchall())]
            return SessionHistory(session=session, recent=recent, segment=segment)

    def _set_feedback(self, session_id: str, segment_id: str, feedback: HapticCue) -> Segment:
        with self._cursor() as cur:
            cur.execute(
                "UPDATE segments SET feedback_pattern = ?, feedback_intensity = ?, "
                "feedback_reason = ? WHERE session_id = ? AND segment_id = ? "
                f"RETURNING {SEGMENT_COLUMNS}",
                (feedback.pattern, feedback.intensity, feedback.reason, session_id, segment_id),
            )
            row = cur.fetchone()
            if row is None:
                raise NotFound(f"segment {segment_id} of session {session_id} not found")
            return row_to_segment(row)

    def _seed(self, rows: int) -> int:
        """Fill the table with other users' history, so a full scan has work to do."""
        with self._cursor() as cur:
            cur.execute("SELECT COUNT(*) AS n FROM segments")
            missing = rows - cur.fetchone()["n"]
            if missing <= 0:
                return 0
            now = _now()
            per_session = 500
            for start in range(0, missing, per_session):
                session_id = uuid.uuid4().hex
                cur.execute(
                    "INSERT INTO sessions (session_id, user_id, mode, status, started_at, "
                    "ended_at) VALUES (?, 'seed', 'presentation', 'ended', ?, ?)",
                    (session_id, now, now),
                )
                count = min(per_session, missing - start)
                cur.executemany(
                    f"INSERT INTO segments ({SEGMENT_COLUMNS}) "
                    "VALUES (?, ?, ?, '', 5000, 130, 60, 150, 0, ?, NULL, NULL, NULL)",
                    [(uuid.uuid4().hex, session_id, seq, now) for seq in range(1, count + 1)],
                )
            return missing

    def _end(self, session_id: str) -> SessionTranscript:
        with self._cursor() as cur:
            # Ending twice is harmless: the first end time is kept, so a retried report
            # request gets the same answer.
            cur.execute(
                "UPDATE sessions SET status = ?, ended_at = COALESCE(ended_at, ?) "
                "WHERE session_id = ? RETURNING *",
                (SessionStatus.ended.value, _now(), session_id),
            )
            row = cur.fetchone()
            if row is None:
                raise NotFound(f"session {session_id} not found")
            session = row_to_session(row)
            cur.execute(
                f"SELECT {SEGMENT_COLUMNS} FROM segments WHERE session_id = ? ORDER BY seq",
                (session_id,),
            )
            return SessionTranscript(session=session, segments=[row_to_segment(r) for r in cur])

    # -- async API --------------------------------------------------------------------------

    async def init(self) -> None:
        await asyncio.to_thread(self._init)

    async def close(self) -> None:
        self._close()

    async def create_session(self, user_id: str, mode: Mode) -> Session:
        return await asyncio.to_thread(self._create_session, user_id, mode)

    async def get_session(self, session_id: str) -> SessionWithCounts:
        return await asyncio.to_thread(self._session_with_counts, session_id)

    async def add_segment(self, session_id: str, segment: NewSegment) -> Segment:
        return await asyncio.to_thread(self._add_segment, session_id, segment)

    async def history(self, session_id: str, limit: int, scan: bool = False,
                      before: str | None = None) -> SessionHistory:
        return await asyncio.to_thread(self._history, session_id, limit, scan, before)

    async def seed(self, rows: int) -> int:
        return await asyncio.to_thread(self._seed, rows)

    async def set_feedback(self, session_id: str, segment_id: str, fb: HapticCue) -> Segment:
        return await asyncio.to_thread(self._set_feedback, session_id, segment_id, fb)

    async def end(self, session_id: str) -> SessionTranscript:
        return await asyncio.to_thread(self._end, session_id)
