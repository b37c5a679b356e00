"""The feedback service's contract."""

from pydantic import BaseModel, Field

from services.session.models import SESSION_ID_PATTERN, Feedback, Segment, SessionTranscript


class EvaluateRequest(BaseModel):
    session_id: str = Field(pattern=SESSION_ID_PATTERN)
    segment: Segment


class Evaluation(BaseModel):
    feedback: Feedback | None
    rules_fired: list[str]
    cooldown_active: bool


class ReportRequest(BaseModel):
    transcript: SessionTranscript


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
    highlights: list[str]


__all__ = ["EvaluateRequest", "Evaluation", "ReportRequest", "Report", "Averages", "Feedback"]
