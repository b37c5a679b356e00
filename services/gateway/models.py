"""The public contract of HaptiTalk's API (what the phone app and the load test call).

Request bodies are the session service's models (forwarded as they are); responses that
the gateway composes are defined here.
"""

from pydantic import BaseModel

from services.feedback.models import Report
from services.session.models import (
    HapticCue,
    NewSegment,
    NewSession,
    Session,
    SessionWithCounts,
)


class RecentSegment(BaseModel):
    seq: int
    words_per_minute: float
    feedback: HapticCue | None


class SessionView(SessionWithCounts):
    """The session with counts so far, its latest segments, and the tip of the moment."""

    recent: list[RecentSegment]
    tip: str | None


class SegmentResult(BaseModel):
    segment_id: str
    seq: int
    feedback: HapticCue | None
    fluency: float | None = None  # 0-100, from feedback's scorer


__all__ = ["NewSegment", "NewSession", "Report", "SegmentResult", "Session", "SessionView",
           "SessionWithCounts"]
