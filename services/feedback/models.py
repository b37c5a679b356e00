"""The feedback service's contract."""

from pydantic import BaseModel, Field

from services.session.models import SESSION_ID_PATTERN, HapticCue, SessionTranscript


class EvaluateRequest(BaseModel):
    """Ids only: the session service owns the segment and serves it."""

    session_id: str = Field(pattern=SESSION_ID_PATTERN)
    segment_id: str = Field(pattern=SESSION_ID_PATTERN)


class Evaluation(BaseModel):
    feedback: HapticCue | None
    rules_fired: list[str]
    cooldown_active: bool
    fluency: float | None = None


class Assessment(BaseModel):
    """One segment's fluency, as the report weighs it."""

    seq: int
    fluency: float


class ReportRequest(BaseModel):
    transcript: SessionTranscript


class Tip(BaseModel):
    session_id: str
    tip: str | None
    based_on_segments: int


class Averages(BaseModel):
    words_per_minute: float | None
    volume_db: float | None
    pitch_hz: float | None
    filler_words_per_minute: float | None


class Report(BaseModel):
    session_id: str
    user_id: str
    mode: str
    started_at: str
    ended_at: str | None
    segments: int
    speech_ms: int
    feedback_given: int
    feedback_by_pattern: dict[str, int]
    averages: Averages
    average_fluency: float | None
    highlights: list[str]


__all__ = ["Assessment", "Averages", "EvaluateRequest", "Evaluation",
           "HapticCue", "Report", "ReportRequest", "Tip"]
