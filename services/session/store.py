"""What the session service needs from its database: the SessionStore interface.

Two implementations sit beside it, on the same tables (schema.py):

- sqlite.py, `SqliteSessionStore`: one file, one process (the default, SESSION_DB=sqlite);
- postgres.py, `PostgresSessionStore`: replicas share it (SESSION_DB=postgres, what the
  Helm chart runs).

api.py is typed with this Protocol only, so a third store is a third file beside these,
and a type checker says when it misses a method. Every method is one request's worth of
work and, in the trace, the DB spans of one request: errors are the shared ones
(services/common/errors.py: NotFound, Conflict; DependencyUnavailable when the database
is not there).
"""

from typing import Protocol

from services.session.models import (
    HapticCue,
    Mode,
    NewSegment,
    Segment,
    Session,
    SessionHistory,
    SessionTranscript,
    SessionWithCounts,
)


class SessionStore(Protocol):
    async def init(self) -> None:
        """Connect, and create the tables if they are not there (safe to run twice)."""

    async def close(self) -> None: ...

    async def create_session(self, user_id: str, mode: Mode) -> Session: ...

    async def get_session(self, session_id: str) -> SessionWithCounts:
        """The session and how many segments and cues it has; NotFound if there is none."""

    async def add_segment(self, session_id: str, segment: NewSegment) -> Segment:
        """Stored with the session's next seq; NotFound, or Conflict once it has ended."""

    async def history(self, session_id: str, limit: int, scan: bool = False,
                      before: str | None = None) -> SessionHistory:
        """The `limit` segments before `before` (that segment too), or the latest ones.

        `scan=True` is the planted bottleneck slow_query's query (services/scenarios/): the
        same rows, read without the (session_id, seq) index."""

    async def set_feedback(self, session_id: str, segment_id: str, fb: HapticCue) -> Segment:
        ...

    async def end(self, session_id: str) -> SessionTranscript:
        """Ends the session (twice is harmless) and returns it with every segment."""

    async def seed(self, rows: int) -> int:
        """slow_query's set-up (services/scenarios/slow_query.py): tops the segments table
        up to `rows` rows of other sessions, so that a full scan has work to do. Returns
        how many it added."""
