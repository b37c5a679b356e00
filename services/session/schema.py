"""The session tables, as both stores create and read them (sqlite.py and postgres.py).

One schema for SQLite and PostgreSQL: SQLite reads DOUBLE PRECISION as its REAL,
PostgreSQL as an 8-byte float (its REAL would be 4 bytes). The row mappers take a
`sqlite3.Row` or the dict a psycopg `dict_row` cursor returns: both are read by column
name.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from services.session.models import HapticCue, Mode, Segment, Session, SessionStatus

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS sessions (
        session_id TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL,
        mode       TEXT NOT NULL,
        status     TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at   TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS segments (
        segment_id         TEXT PRIMARY KEY,
        session_id         TEXT NOT NULL REFERENCES sessions(session_id),
        seq                INTEGER NOT NULL,
        text               TEXT NOT NULL,
        duration_ms        INTEGER NOT NULL,
        words_per_minute   DOUBLE PRECISION NOT NULL,
        volume_db          DOUBLE PRECISION NOT NULL,
        pitch_hz           DOUBLE PRECISION NOT NULL,
        filler_words       INTEGER NOT NULL,
        created_at         TEXT NOT NULL,
        feedback_pattern   TEXT,
        feedback_intensity INTEGER,
        feedback_reason    TEXT
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS segments_by_session ON segments(session_id, seq)",
]

SEGMENT_COLUMNS = (
    "segment_id, session_id, seq, text, duration_ms, words_per_minute, volume_db, pitch_hz, "
    "filler_words, created_at, feedback_pattern, feedback_intensity, feedback_reason"
)

# A row of either driver: sqlite3.Row and psycopg's dict rows are both read by name.
Row = Mapping[str, Any]


def now() -> str:
    """Timestamps are stored as ISO 8601 text in UTC, in both databases."""
    return datetime.now(UTC).isoformat()


def row_to_session(row: Row) -> Session:
    """A sessions row as the model."""
    return Session(
        session_id=row["session_id"],
        user_id=row["user_id"],
        mode=Mode(row["mode"]),
        status=SessionStatus(row["status"]),
        started_at=row["started_at"],
        ended_at=row["ended_at"],
    )


def row_to_segment(row: Row) -> Segment:
    """A segments row (SEGMENT_COLUMNS) as the model, the three feedback_ columns as its
    HapticCue."""
    feedback = None
    if row["feedback_pattern"] is not None:
        feedback = HapticCue(
            pattern=row["feedback_pattern"],
            intensity=row["feedback_intensity"],
            reason=row["feedback_reason"],
        )
    return Segment(**{k: row[k] for k in row.keys() if not k.startswith("feedback_")},
                   feedback=feedback)
