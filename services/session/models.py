"""The session service's contract: what it stores and what it answers.

The gateway's public request models live here too, because the gateway forwards them
unchanged; ranges are validated once, at the edge, and again here (a service must not
trust its callers).
"""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

SESSION_ID_PATTERN = r"^[0-9a-f]{32}$"


class Mode(StrEnum):
    presentation = "presentation"
    interview = "interview"
    dating = "dating"


class SessionStatus(StrEnum):
    active = "active"
    ended = "ended"


class NewSession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    mode: Mode


class Session(BaseModel):
    session_id: str = Field(pattern=SESSION_ID_PATTERN)
    user_id: str
    mode: Mode
    status: SessionStatus
    started_at: datetime
    ended_at: datetime | None = None


class SessionWithCounts(Session):
    segment_count: int
    feedback_count: int


class NewSegment(BaseModel):
    """One analysed stretch of speech, as the phone app sends it every few seconds."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=2000)
    duration_ms: int = Field(ge=100, le=60_000)
    words_per_minute: float = Field(ge=0, le=400)
    volume_db: float = Field(ge=0, le=130)
    pitch_hz: float = Field(ge=0, le=1000)
    filler_words: int = Field(ge=0, le=200)


class HapticCue(BaseModel):
    """A haptic cue for the watch: its pattern, how strong, and why. In JSON it is a
    segment's `feedback`."""

    pattern: str
    intensity: int = Field(ge=1, le=3)
    reason: str


class Segment(NewSegment):
    model_config = ConfigDict(extra="ignore")

    segment_id: str
    session_id: str
    seq: int
    created_at: datetime
    feedback: HapticCue | None = None


class SessionHistory(BaseModel):
    """The session and its most recent segments, oldest first. Asked `before` a segment
    (what the feedback service reads to evaluate it), `segment` is that segment and
    `recent` the ones before it."""

    session: Session
    recent: list[Segment]
    segment: Segment | None = None


class SessionTranscript(BaseModel):
    """A session with all its segments, as the end-of-session report needs it."""

    session: Session
    segments: list[Segment]
