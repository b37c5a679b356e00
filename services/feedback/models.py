"""The feedback service's contract."""

from pydantic import BaseModel, Field

from services.session.models import SESSION_ID_PATTERN, HapticCue, Segment, SessionTranscript


class EvaluateRequest(BaseModel):
    """Ids only: the session service owns the segment and serves it."""

    session_id: str = Field(pattern=SESSION_ID_PATTERN)
    segment_id: str = Field(pattern=SESSION_ID_PATTERN)


class Evaluation(BaseModel):
    feedback: HapticCue | None
    rules_fired: list[str]
    cooldown_active: bool
    fluency: float | None = None


class AssessRequest(BaseModel):
    segment: Segment


class Assessment(BaseModel):
    seq: int
    fluency: float


class ReportRequest(BaseModel):
    transcript: SessionTranscript
    # Precomputed per-segment assessments (only the n_plus_one scenario sends them; the
    # fixed path lets /report assess all segments in one batch).
    assessments: list[Assessment] | None = None


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


__all__ = ["AssessRequest", "Assessment", "Averages", "EvaluateRequest", "Evaluation",
           "HapticCue", "Report", "ReportRequest", "Tip"]
